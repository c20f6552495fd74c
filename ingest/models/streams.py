"""The stream choices of every model that names a stream: the nine names of transforms/streams.json."""

from transforms.streams import STREAM_NAMES

STREAM_CHOICES = [(name, name) for name in STREAM_NAMES]
