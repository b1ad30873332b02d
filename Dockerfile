# One image for every Postern service: `docker build -t postern .`. A container runs one of them,
# e.g. `docker run postern node apps/route-lookup/dist/main.js` (deploy/k8s sets the command).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json nx.json tsconfig.base.json tsconfig.nest.json tsconfig.json ./
COPY libs libs
COPY apps apps
RUN npm install --no-audit --no-fund --loglevel=error \
  && NX_DAEMON=false NX_NO_CLOUD=true npx nx run-many -t build --exclude tests \
  && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /opt/postern
ENV NODE_ENV=production
# The workspace packages are linked from node_modules/@postern to apps/ and libs/: both come along.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/libs libs
COPY --from=build /src/apps apps
USER 10001
EXPOSE 9400
CMD ["node", "apps/route-lookup/dist/main.js"]
