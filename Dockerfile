# syntax=docker/dockerfile:1
# square-inference: one image for every role; the command line picks the roles.
#
#   docker build -t square-inference .                      CPU image (the default target, `cpu`)
#   docker build -t square-inference:cuda --target cuda .   NVIDIA GPU image: a CUDA 12 + cuDNN 9 base,
#                                                           ONNX Runtime's CUDA provider; linux/amd64 only
#
# A GPU build is its own target on a CUDA base image, never a build argument on the CPU image: a
# CPU image cannot run the CUDA provider and would serve on CPU without saying so.
# Stages: `build` compiles the server (TypeScript → dist/) and the demo models; `deps-cpu` and
# `deps-cuda` install the production dependencies and drop other platforms' native binaries;
# `cpu` and `cuda` run only the compiled JavaScript (no tsx, no TypeScript at run time).
# The code stays owned by root (read-only for the server's user `node`): no `chown -R` layer
# duplicating node_modules; only the two folders the server writes belong to `node`.
# Checked in CI by tools/ci/check-deploy.sh (docker-compose config, dockerfile-utils, project rules).
# Never built on the project's machines (no Docker engine there): see README "Deploying a cluster".

ARG NODE_IMAGE=node:24-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS build
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY bin ./bin
COPY lib ./lib
COPY services ./services
COPY web ./web
COPY moleculer.config.ts tsconfig.json tsconfig.build.json ./
RUN npm run build
# The demo models the shipped models/models.json serves (deterministic, built from lib/fixtures).
RUN node bin/square-inference.js fixtures --out /src/demo-models

# Production dependencies for the CPU image: the CPU build of ONNX Runtime ships in the package.
FROM ${NODE_IMAGE} AS deps-cpu
ARG TARGETARCH
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json ./
COPY tools/docker/prune-native.sh /usr/local/bin/prune-native
RUN npm ci --omit=dev && npm cache clean --force && sh /usr/local/bin/prune-native node_modules "${TARGETARCH:-amd64}"

# Production dependencies for the CUDA image: the install script fetches the CUDA 12 provider.
FROM ${NODE_IMAGE} AS deps-cuda
ARG TARGETARCH
ENV ONNXRUNTIME_NODE_INSTALL=cuda12
WORKDIR /app
COPY package.json package-lock.json ./
COPY tools/docker/prune-native.sh /usr/local/bin/prune-native
RUN if [ "${TARGETARCH:-amd64}" != "amd64" ]; then echo "the CUDA image is linux/amd64 only (ONNX Runtime ships no CUDA provider for ${TARGETARCH})" >&2; exit 1; fi \
 && npm ci --omit=dev && npm cache clean --force && sh /usr/local/bin/prune-native node_modules amd64 \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# NVIDIA's CUDA runtime with Node copied in from the official image (the binary needs glibc ≥ 2.28).
FROM ${NODE_IMAGE} AS node-binary
FROM ${CUDA_IMAGE} AS cuda
COPY --from=node-binary /usr/local/bin/node /usr/local/bin/node
# The same unprivileged user name as the Node image (its uid may differ: Ubuntu's base has uid 1000 taken).
RUN groupadd node && useradd --gid node --create-home --shell /usr/sbin/nologin node
ENV NODE_ENV=production SQUARE_HOST=0.0.0.0 SQUARE_DEVICES=cuda:0 MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json ./
COPY bin/square-inference.js ./bin/
COPY --from=deps-cuda /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/demo-models ./models/demo
RUN install -d -o node -g node /app/.cache /models
USER node
EXPOSE 8000
COPY tools/docker/healthcheck.mjs ./bin/healthcheck.mjs
# A gateway node answers GET <prefix>/health/heartbeat; a node without the gateway role has no HTTP
# port and passes while its process runs (tools/docker/healthcheck.mjs reads the roles from PID 1).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 CMD ["node", "bin/healthcheck.mjs"]
ENTRYPOINT ["node", "bin/square-inference.js"]
CMD ["serve"]

# The default target, last: the CPU image.
FROM ${NODE_IMAGE} AS cpu
ENV NODE_ENV=production SQUARE_HOST=0.0.0.0 SQUARE_DEVICES=cpu MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json ./
COPY bin/square-inference.js ./bin/
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/demo-models ./models/demo
RUN install -d -o node -g node /app/.cache /models
USER node
EXPOSE 8000
COPY tools/docker/healthcheck.mjs ./bin/healthcheck.mjs
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 CMD ["node", "bin/healthcheck.mjs"]
ENTRYPOINT ["node", "bin/square-inference.js"]
CMD ["serve"]
