# The image of the api and worker services. torch comes from PyPI's default (CUDA) build.
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e ".[server,worker]"
EXPOSE 8765
CMD ["lionlab", "server", "--host", "0.0.0.0"]
