"""Checks of the deployment artefacts (Dockerfile, docker-compose.yml, k8s/) without Docker
or a cluster: rendering, schema validation, linting and cross-checks against the code."""
