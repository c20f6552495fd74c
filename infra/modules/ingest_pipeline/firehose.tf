# One Firehose delivery stream per System Two stream, "<environment>-<stream>": reads its
# Kinesis stream, runs the transform Lambda on the records, writes GZIP files to
# "<stream>/YYYY/MM/dd/HH/" (UTC, by arrival time) and what fails to "errors/<stream>/...".
#
# Latency: a record waits at most processor_buffer_interval_seconds (default 10 s, 1 MB) for
# the Lambda and buffering_interval_seconds (default 60 s, 5 MB) for the S3 file, so an event
# reaches S3 about a minute after System Two sent it, instead of the defaults' 60 s + 300 s.
# Small Lambda batches also keep each invocation far below Lambda's 6 MB response limit and
# its 5 minute Firehose timeout. Shorter S3 intervals (down to 0) are possible: more files,
# more notifications and, below 60 s, multipart uploads.
resource "aws_kinesis_firehose_delivery_stream" "this" {
  #checkov:skip=CKV_AWS_240:Server-side encryption of a delivery stream only applies to Direct PUT sources; this one reads a Kinesis stream encrypted with the pipeline's CMK and writes SSE-KMS objects (kms_key_arn).
  #checkov:skip=CKV_AWS_241:Same as CKV_AWS_240: the source Kinesis stream and the S3 objects are encrypted with the pipeline's customer-managed key.
  for_each = local.streams

  name        = local.resource_names[each.key]
  destination = "extended_s3"

  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.this[each.key].arn
    role_arn           = aws_iam_role.firehose[each.key].arn
  }

  extended_s3_configuration {
    role_arn   = aws_iam_role.firehose[each.key].arn
    bucket_arn = aws_s3_bucket.ingest.arn

    prefix              = "${each.key}/!{timestamp:yyyy/MM/dd/HH}/"
    error_output_prefix = "${local.error_prefix_root}${each.key}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    compression_format  = "GZIP"
    kms_key_arn         = aws_kms_key.this.arn
    s3_backup_mode      = "Disabled"

    buffering_size     = var.buffering_size_mb
    buffering_interval = var.buffering_interval_seconds

    processing_configuration {
      enabled = true

      processors {
        type = "Lambda"

        parameters {
          parameter_name  = "LambdaArn"
          parameter_value = "${aws_lambda_function.transform.arn}:$LATEST"
        }
        parameters {
          parameter_name  = "BufferSizeInMBs"
          parameter_value = tostring(var.processor_buffer_size_mb)
        }
        parameters {
          parameter_name  = "BufferIntervalInSeconds"
          parameter_value = tostring(var.processor_buffer_interval_seconds)
        }
        parameters {
          parameter_name  = "NumberOfRetries"
          parameter_value = tostring(var.processor_retries)
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose[each.key].name
      log_stream_name = aws_cloudwatch_log_stream.firehose_delivery[each.key].name
    }
  }

  tags = local.tags

  # Firehose checks its role's access when the stream is created.
  depends_on = [aws_iam_role_policy.firehose]
}

resource "aws_cloudwatch_log_group" "firehose" {
  for_each = local.streams

  name              = local.firehose_log_group_names[each.key]
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_cloudwatch_log_stream" "firehose_delivery" {
  for_each = local.streams

  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose[each.key].name
}
