FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The project installs no package of its own (pyproject: packages = []), only its pinned dependencies:
# installed before the code is copied, so a code change keeps this layer.
COPY pyproject.toml ./
RUN pip install --no-cache-dir .
COPY . .
RUN useradd --create-home slackhub && chown -R slackhub /app
USER slackhub
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
