"""The admin website: Django project settings, URLs, the Celery app and the website's models."""

from website.celery import app as celery_app

__all__ = ("celery_app",)
