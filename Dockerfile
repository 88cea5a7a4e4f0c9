# sessionflow: one image, every command (run, ingest, process, warehouse, sql, demo).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin bin
COPY lib lib
COPY ingest ingest
COPY processors processors
COPY bench bench
COPY test/helpers test/helpers
COPY schemas schemas
COPY sql sql
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production DATA_DIR=/data HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY schemas schemas
COPY sql sql
VOLUME /data
EXPOSE 8080
USER node
ENTRYPOINT ["node", "dist/bin/sessionflow.js"]
CMD ["run"]
