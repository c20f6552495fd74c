# S3 "object created" notifications for the nine stream prefixes -> ONE queue -> the Django
# consumer (manage.py consume_events), which hands each file to the Celery importer.
#
# Encryption: SSE-SQS. A notification holds only the bucket, key, size and etag of a file, no
# event data; and with a KMS key S3 would additionally need kms:GenerateDataKey in the key
# policy to deliver notifications at all.
#
# Sizing:
#   * visibility timeout: a received notification stays hidden while the consumer reads the
#     file and hands it over; if the consumer dies, the message reappears after it and another
#     consumer imports the file (the import is idempotent by version, so a repeat is harmless).
#   * retention: a week covers a long weekend of consumer outage; the DLQ keeps 14 days, the
#     maximum, because a message keeps its original enqueue time when it moves to the DLQ.
#   * max message size 256 KiB (an S3 notification is about 1-2 KiB), long polling 20 s so
#     an idle consumer makes 3 requests a minute, not hundreds.
resource "aws_sqs_queue" "ingest" {
  name                       = "${local.name_prefix}-files"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  message_retention_seconds  = var.queue_message_retention_seconds
  max_message_size           = 262144
  receive_wait_time_seconds  = 20

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.ingest_dlq.arn
    maxReceiveCount     = var.dlq_max_receive_count
  })

  tags = local.tags
}

# Notifications the consumer failed on dlq_max_receive_count times: an operator looks at the
# file, fixes the cause and redrives them (SQS "start DLQ redrive") to the ingest queue.
resource "aws_sqs_queue" "ingest_dlq" {
  name                       = "${local.name_prefix}-files-dlq"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  message_retention_seconds  = 1209600
  max_message_size           = 262144
  receive_wait_time_seconds  = 20
  tags                       = local.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "ingest_dlq" {
  queue_url = aws_sqs_queue.ingest_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.ingest.arn]
  })
}

# Error files: one notification per file Firehose wrote under errors/ (records the transform
# rejected, or a batch it could not deliver). A consumer (`manage.py consume_events --queue-url
# <failed_records_queue_url>`) registers each file's records for the admin and `manage.py redrive`;
# its alarm (alarms.tf) fires when messages wait, i.e. when that consumer is not running.
resource "aws_sqs_queue" "failed_records" {
  name                       = "${local.name_prefix}-failed-records"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = 300
  message_retention_seconds  = 1209600
  max_message_size           = 262144
  receive_wait_time_seconds  = 20
  tags                       = local.tags
}

# Only this bucket, in this account, may send to the notification queues; and nobody may use
# any of the three queues without TLS.
locals {
  queue_arns = {
    ingest         = aws_sqs_queue.ingest.arn
    ingest_dlq     = aws_sqs_queue.ingest_dlq.arn
    failed_records = aws_sqs_queue.failed_records.arn
  }
  notified_queues = toset(["ingest", "failed_records"])
}

data "aws_iam_policy_document" "queue" {
  for_each = local.queue_arns

  dynamic "statement" {
    for_each = contains(local.notified_queues, each.key) ? [each.value] : []
    content {
      sid    = "IngestBucketNotifications"
      effect = "Allow"
      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [aws_s3_bucket.ingest.arn]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }

  statement {
    sid    = "DenyWithoutTLS"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["sqs:*"]
    resources = [each.value]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "ingest" {
  queue_url = aws_sqs_queue.ingest.id
  policy    = data.aws_iam_policy_document.queue["ingest"].json
}

resource "aws_sqs_queue_policy" "ingest_dlq" {
  queue_url = aws_sqs_queue.ingest_dlq.id
  policy    = data.aws_iam_policy_document.queue["ingest_dlq"].json
}

resource "aws_sqs_queue_policy" "failed_records" {
  queue_url = aws_sqs_queue.failed_records.id
  policy    = data.aws_iam_policy_document.queue["failed_records"].json
}
