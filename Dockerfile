# Sigillo image: a release build of the `sigillo` binary on Debian slim.
# Build: docker build -t sigillo .   (docker-compose.yml does it for you)

# The dashboard's front-end assets, from npm with the committed lock file.
FROM node:20-bookworm-slim AS assets
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The committed .sqlx query data lets sqlx check the queries without a database.
ENV SQLX_OFFLINE=true
# pec-sim, the local PEC provider, is built too: the demo profile of docker-compose.yml runs it.
RUN cargo build --release --locked -p sigillo -p sigillo_pec_sim

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/sigillo --create-home sigillo
COPY --from=build /src/target/release/sigillo /src/target/release/pec-sim /usr/local/bin/
COPY docker/demo/traffic.sh /usr/share/sigillo/demo/traffic.sh
COPY docker/demo/samples /usr/share/sigillo/demo/samples
COPY --from=assets /src/web/static /usr/share/sigillo/static
USER sigillo
ENV SIGILLO_DATA_DIR=/var/lib/sigillo \
    SIGILLO_STATIC_DIR=/usr/share/sigillo/static \
    SIGILLO_LISTEN=0.0.0.0:8080
VOLUME /var/lib/sigillo
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["sigillo"]
CMD ["serve"]
