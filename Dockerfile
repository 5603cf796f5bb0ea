# square-inference: one image for every role; the command line picks the roles.
# CPU build. For NVIDIA GPUs build with --build-arg ORT_INSTALL=cuda12 on a CUDA 12 base image.
# Two stages: the first compiles the server (TypeScript → dist/), the second runs only the
# compiled JavaScript with production dependencies (no tsx, no TypeScript at run time).
FROM node:24-bookworm-slim AS build
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY bin ./bin
COPY lib ./lib
COPY services ./services
COPY moleculer.config.ts tsconfig.json tsconfig.build.json ./
RUN npm run build

FROM node:24-bookworm-slim
ARG ORT_INSTALL=skip
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL}
# The gateway binds 127.0.0.1 by default (--host); inside a container it must listen on every interface.
ENV SQUARE_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin/square-inference.js ./bin/
COPY --from=build /src/dist ./dist
# Demo models are built at first start when no models file is given; mount real ones at /models.
RUN mkdir -p /models /app/models && chown -R node:node /app /models
USER node
EXPOSE 8000
ENTRYPOINT ["node", "bin/square-inference.js"]
CMD ["serve"]
