# Switchyard container image: build the TypeScript, then ship only what runs.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
# State lives on a volume so a restarted container keeps the live pool and history.
VOLUME ["/var/lib/switchyard"]
EXPOSE 8080 8081 9901
USER node
# Mount your own config at /etc/switchyard/switchyard.yaml (listen on 0.0.0.0 and set
# an admin token: Switchyard refuses a non-loopback admin address without one).
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["start", "--config", "/etc/switchyard/switchyard.yaml"]
