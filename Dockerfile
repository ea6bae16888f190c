# A first version of berth's service image; the security issue hardens it (multi-stage, healthcheck, tests).
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 BERTH_CONFIG=/app/docker.yaml
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY docker.yaml ./
USER node
EXPOSE 4000
CMD ["node", "--experimental-strip-types", "--disable-warning=ExperimentalWarning", "src/main.ts"]
