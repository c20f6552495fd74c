"""The Firehose transformation Lambda: System Two events in, System One records out.

Plain Python (standard library only) so the Lambda cold-starts fast; the Django
importer imports the stream definitions and the System One reader from here too.
"""
