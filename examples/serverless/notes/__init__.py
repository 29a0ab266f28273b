"""Notes: an HTTP API and a DynamoDB Streams consumer on AWS Lambda, built on dynorm.

* ``notes.models``: the two tables, declared once (the SAM template is generated from
  them by ``make_template.py``).
* ``notes.runtime``: one event loop and one dynorm connection per execution
  environment, reused by every invocation.
* ``notes.api.handler``: API Gateway (HTTP API payload 2.0, REST API payload 1.0).
* ``notes.stream.handler``: the notes table's stream, through dynorm's Lambda adapter.

Walked through in docs/lambda.md.
"""
