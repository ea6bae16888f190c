# berth's service image: `npm run image` builds it as berth:local.
# Build stage: compile TypeScript, then keep production dependencies only.
FROM node:24-slim AS build
WORKDIR /app
# Where TLS to the npm registry is intercepted, put the extra CA certificates (public, PEM) in
# docker/build-ca/extra.pem (npm run image does so from NODE_EXTRA_CA_CERTS). They stay in this stage.
COPY docker/build-ca/ /tmp/build-ca/
COPY package.json package-lock.json ./
RUN if [ -f /tmp/build-ca/extra.pem ]; then export NODE_EXTRA_CA_CERTS=/tmp/build-ca/extra.pem; fi \
 && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY dashboard ./dashboard
# npm run build's two steps: the service, then the dashboard's page and assets into dist/dashboard.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && node node_modules/vite/bin/vite.js build --config dashboard/vite.config.ts \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && rm -rf /root/.npm /tmp/build-ca

# Run stage: the compiled service and its production dependencies, as the unprivileged node user.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 BERTH_CONFIG=/app/docker.yaml
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY docker.yaml ./
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM and SIGINT itself (graceful shutdown); no shell in between.
# The command is npm start's, flags included (see README, Development); test/unit/service-command.test.ts holds them equal.
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=1", "--heap-growing-percent=15", "--no-concurrent-recompilation", "dist/main.js"]
