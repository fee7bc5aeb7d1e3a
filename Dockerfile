# The image of the api and worker services: the wheel built from this checkout, installed with
# its server and worker extras, so the image runs what `pip install lionlab` gives a user.
# torch comes from PyPI's default (CUDA) build.

# Build stage: the checkout is needed only to build the wheel.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# Runtime: the wheel and its dependencies, no checkout.
FROM python:3.11-slim
COPY --from=build /dist /dist
RUN pip install --no-cache-dir "$(ls /dist/lionlab-*.whl)[server,worker]" && rm -r /dist
WORKDIR /app
EXPOSE 8765
CMD ["lionlab", "server", "--host", "0.0.0.0"]
