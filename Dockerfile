# square-inference: one image for every role; the command line picks the roles.
# CPU build. For NVIDIA GPUs build with --build-arg ORT_INSTALL=cuda12 on a CUDA 12 base image.
FROM node:20-bookworm-slim
ARG ORT_INSTALL=skip
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL}
WORKDIR /app
COPY package.json package-lock.json ./
# tsx (runtime TypeScript) is a production dependency; dev dependencies (tests) are left out.
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY lib ./lib
COPY services ./services
COPY moleculer.config.ts tsconfig.json ./
# Demo models are built at first start when no models file is given; mount real ones at /models.
RUN mkdir -p /models /app/models && chown -R node:node /app /models
USER node
EXPOSE 8000
ENTRYPOINT ["node", "bin/square-inference.js"]
CMD ["serve"]
