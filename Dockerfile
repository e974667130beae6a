# syntax=docker/dockerfile:1
# Dockerfile - Pyrite's container images, one multi-stage build.
#
#   docker build --target server  -t pyrite-server  .   # pyrited (the default target)
#   docker build --target agent   -t pyrite-agent   .   # JRE 17 + the agent, preset
#   docker build --target example -t pyrite-example .   # agent image + examples/
#
# Stages: `build` compiles everything on Debian 12 and installs it with
# scripts/install.sh into /opt/pyrite (the same step the integration test
# tests/integration/test_install_prefix.py runs); the runtime stages copy
# from there and add only the shared libraries the binaries need, then run
# `scripts/install.sh --check` so a missing library fails the image build,
# not the first JVM that loads the agent.  See docs/operations.md.

# ---------------------------------------------------------------- build
FROM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
# The packages of scripts/deps.sh that the build needs.  Left out, because
# this build is configured with -DPYRITE_TESTS=OFF: clang, libcmocka-dev,
# python3, chromium, golang-go (tests only).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config binutils \
      libcurl4-openssl-dev zlib1g-dev \
      libprotobuf-c-dev protobuf-c-compiler \
      libmicrohttpd-dev libsqlite3-dev libzstd-dev libdeflate-dev \
      libpcre2-dev libjansson-dev \
      openjdk-17-jdk-headless \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# jni.h lives under the JDK, whose directory name depends on the
# architecture (java-17-openjdk-amd64, -arm64): derive it from javac.
RUN jdk=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")") \
 && cmake -S . -B /build -DPYRITE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DJNI_INCLUDE_DIR="$jdk/include" \
 && cmake --build /build -j"$(nproc)" \
 && scripts/install.sh /opt/pyrite /build \
 && JAVA_HOME="$jdk" examples/build.sh

# ---------------------------------------------------------------- agent
# Any JVM in an image built FROM this one is profiled: JAVA_TOOL_OPTIONS
# loads the agent with no options, so it is configured entirely by
# environment variables (PYROSCOPE_SERVER_ADDRESS, PYROSCOPE_APPLICATION_NAME,
# PYRITE_*; docs/configuration.md).  Without a server address it samples
# but sends nothing; PYRITE_ENABLED=false switches it off.
FROM eclipse-temurin:17-jre AS agent
ARG DEBIAN_FRONTEND=noninteractive
# libcurl is libcurl4t64 on Ubuntu 24.04 (the base of current
# eclipse-temurin tags) and libcurl4 before it.
RUN apt-get update \
 && (apt-get install -y --no-install-recommends libcurl4t64 \
     || apt-get install -y --no-install-recommends libcurl4) \
 && apt-get install -y --no-install-recommends libjansson4 libprotobuf-c1 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pyrite/lib/libpyrite.so /opt/pyrite/lib/libpyrite.so
# The dynamic-labels API (docs/labels.md), for applications to put on their class path.
COPY --from=build /opt/pyrite/lib/pyrite-api.jar /opt/pyrite/lib/pyrite-api.jar
RUN --mount=type=bind,from=build,source=/src/scripts/install.sh,target=/tmp/install.sh \
    bash /tmp/install.sh --check /opt/pyrite agent
ENV JAVA_TOOL_OPTIONS="-agentpath:/opt/pyrite/lib/libpyrite.so"

# ---------------------------------------------------------------- example
# The agent image plus the example apps (examples/): the bank service and
# its load generator, used by docker-compose.yml.
FROM agent AS example
COPY --from=build /src/examples/out /opt/pyrite/examples
RUN useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin pyrite
USER 10001:10001
ENV PYROSCOPE_APPLICATION_NAME=bank
EXPOSE 8080
ENTRYPOINT ["java", "-cp", "/opt/pyrite/examples"]
CMD ["pyrite.examples.bank.BankApp", "--port", "8080", "--bind", "0.0.0.0"]

# ---------------------------------------------------------------- server
# pyrited (and the `pyrite` CLI, for `docker exec ... pyrite top`), as a
# non-root user, data in a volume.  Last stage = default target.
FROM debian:12-slim AS server
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries of pyrited (libmicrohttpd12 ... zlib1g) and of the CLI
# (libcurl4); curl is the health check's client.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libsqlite3-0 libjansson4 libzstd1 libdeflate0 libpcre2-8-0 \
      libprotobuf-c1 zlib1g libcurl4 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pyrite/bin/pyrited /opt/pyrite/bin/pyrite /opt/pyrite/bin/
RUN --mount=type=bind,from=build,source=/src/scripts/install.sh,target=/tmp/install.sh \
    bash /tmp/install.sh --check /opt/pyrite server
RUN useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /var/lib/pyrite --shell /usr/sbin/nologin pyrite \
 && mkdir -p /var/lib/pyrite \
 && chown 10001:10001 /var/lib/pyrite
ENV PATH=/opt/pyrite/bin:$PATH
USER 10001:10001
VOLUME /var/lib/pyrite
EXPOSE 4040
# /ready is 200 once the storage is open, 503 while opening or stopping.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:4040/ready"]
# Extra flags go after the image name (`docker run IMAGE --retention 30d`);
# pyrited applies flags in order, so a later --listen or --data-dir wins.
ENTRYPOINT ["/opt/pyrite/bin/pyrited", "--listen", "0.0.0.0:4040", "--data-dir", "/var/lib/pyrite"]
