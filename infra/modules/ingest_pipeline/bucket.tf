# The one bucket every Firehose stream writes to: "{stream}/YYYY/MM/dd/HH/<file>" (GZIP), and
# "errors/{stream}/..." for records the transform rejected or that could not be delivered.
#
# Encryption: SSE-KMS with the pipeline's CMK (and an S3 Bucket Key, which cuts the KMS calls
# to about one per object-writer session). The files hold customer data (names, addresses,
# amounts), so reading them should need both s3:GetObject and kms:Decrypt on a key we control,
# with every decryption in CloudTrail; SSE-S3 would let anything with s3:GetObject read them.
resource "aws_s3_bucket" "ingest" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is out of scope: the files are a buffer between Kinesis and the database, which has its own backups; a replica bucket and key per region would double cost for data the database already holds.
  bucket = local.bucket_name
  tags   = local.tags
}

resource "aws_s3_bucket_ownership_controls" "ingest" {
  bucket = aws_s3_bucket.ingest.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "ingest" {
  bucket                  = aws_s3_bucket.ingest.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "ingest" {
  bucket = aws_s3_bucket.ingest.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ingest" {
  bucket = aws_s3_bucket.ingest.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "ingest" {
  count         = var.access_log_bucket == null ? 0 : 1
  bucket        = aws_s3_bucket.ingest.id
  target_bucket = var.access_log_bucket
  target_prefix = "${local.bucket_name}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "ingest" {
  bucket = aws_s3_bucket.ingest.id

  rule {
    id     = "delivered-files"
    status = "Enabled"
    filter {}

    # Firehose writes with multipart uploads when its buffer interval is under 60 s; parts of
    # an upload it abandoned would otherwise be billed forever.
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    dynamic "transition" {
      for_each = var.s3_transition_to_ia_days == null ? [] : [var.s3_transition_to_ia_days]
      content {
        days          = transition.value
        storage_class = "STANDARD_IA"
      }
    }

    dynamic "expiration" {
      for_each = var.s3_retention_days == null ? [] : [var.s3_retention_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.s3_noncurrent_version_retention_days
    }
  }

  lifecycle {
    precondition {
      condition     = var.s3_retention_days == null || var.s3_transition_to_ia_days == null || try(var.s3_retention_days > var.s3_transition_to_ia_days, false)
      error_message = "s3_retention_days must be greater than s3_transition_to_ia_days."
    }
  }

  depends_on = [aws_s3_bucket_versioning.ingest]
}

# Only TLS: deny every request that does not use it, whoever makes it.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    # A Deny: "s3:*" denies every action (a list would leave gaps); grants never use wildcards.
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.ingest.arn, "${aws_s3_bucket.ingest.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "ingest" {
  bucket = aws_s3_bucket.ingest.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.ingest]
}

# One notification per stream prefix, all to the ONE ingest queue; error files (errors/...)
# notify the failed-records queue, whose alarm tells operators that records were rejected.
resource "aws_s3_bucket_notification" "ingest" {
  bucket = aws_s3_bucket.ingest.id

  dynamic "queue" {
    for_each = local.streams
    content {
      id            = "${queue.key}-created"
      queue_arn     = aws_sqs_queue.ingest.arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = "${queue.key}/"
    }
  }

  # System Two's snapshots (snapshots/{stream}/...): the consumer registers them for reconciliation.
  queue {
    id            = "snapshots-created"
    queue_arn     = aws_sqs_queue.ingest.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = local.snapshot_prefix_root
  }

  queue {
    id            = "errors-created"
    queue_arn     = aws_sqs_queue.failed_records.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = local.error_prefix_root
  }

  lifecycle {
    precondition {
      condition     = !contains(local.stream_names, trimsuffix(local.error_prefix_root, "/"))
      error_message = "A stream may not be named like the error prefix; its files and the error files would share a prefix."
    }
    precondition {
      condition     = !contains(local.stream_names, trimsuffix(local.snapshot_prefix_root, "/"))
      error_message = "A stream may not be named like the snapshot prefix; its files and the snapshots would share a prefix."
    }
  }

  # S3 checks that it may send to the queues when the notification is saved.
  depends_on = [
    aws_sqs_queue_policy.ingest,
    aws_sqs_queue_policy.failed_records,
  ]
}
