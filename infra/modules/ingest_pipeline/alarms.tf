# CloudWatch alarms, notifying var.alarm_topic_arn (if set) when they fire and recover.
# Missing data is "not breaching": a quiet stream (no events, so no metrics) is healthy.

# ---- Firehose, per delivery stream ------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "firehose_freshness" {
  for_each = local.streams

  alarm_name          = "${local.resource_names[each.key]}-firehose-delivery-stale"
  alarm_description   = "Firehose ${local.resource_names[each.key]}: records older than ${var.firehose_freshness_alarm_seconds} s are not in S3 yet (transform or S3 delivery failing or too slow)."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.DataFreshness"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.firehose_freshness_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "firehose_delivery_success" {
  for_each = local.streams

  alarm_name          = "${local.resource_names[each.key]}-firehose-s3-delivery-failing"
  alarm_description   = "Firehose ${local.resource_names[each.key]}: some S3 puts failed (DeliveryToS3.Success < 1); Firehose retries, then writes to errors/."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.Success"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[each.key].name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "firehose_processing_success" {
  for_each = local.streams

  alarm_name          = "${local.resource_names[each.key]}-firehose-transform-failing"
  alarm_description   = "Firehose ${local.resource_names[each.key]}: some transform Lambda invocations failed (ExecuteProcessing.Success < 1); after the retries the batch goes to errors/."
  namespace           = "AWS/Firehose"
  metric_name         = "ExecuteProcessing.Success"
  dimensions          = { DeliveryStreamName = aws_kinesis_firehose_delivery_stream.this[each.key].name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# Records the transform marked ProcessingFailed (and batches Firehose gave up on) become files
# under errors/; each such file puts a message on the failed-records queue. Firehose has no
# per-record failure metric, so this queue is the reliable signal. The alarm stays on until an
# operator has looked at the files and deleted the messages.
resource "aws_cloudwatch_metric_alarm" "failed_records" {
  alarm_name          = "${local.name_prefix}-failed-records"
  alarm_description   = "Firehose wrote error files (records the transform rejected, or undeliverable batches) under errors/ in ${local.bucket_name}; the messages of ${aws_sqs_queue.failed_records.name} name the files."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failed_records.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# ---- Transform Lambda -----------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${local.lambda_function_name}-errors"
  alarm_description   = "The transform Lambda raised (an invocation failed as a whole; Firehose retries it)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.transform.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = "${local.lambda_function_name}-throttles"
  alarm_description   = "The transform Lambda was throttled: its reserved concurrency (${var.lambda_reserved_concurrency}) is too low for the Firehose streams."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.transform.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# ---- Queue and consumer -----------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  alarm_name          = "${aws_sqs_queue.ingest.name}-oldest-message"
  alarm_description   = "An S3 notification has waited more than ${var.queue_age_alarm_seconds} s: the Django consumer (manage.py consume_events) is down or too slow."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.ingest.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_age_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_messages" {
  alarm_name          = "${aws_sqs_queue.ingest_dlq.name}-not-empty"
  alarm_description   = "S3 notifications the consumer failed on ${var.dlq_max_receive_count} times are in the dead-letter queue: their files are not imported."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.ingest_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# ---- Import API ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name_prefix}-api-5xx"
  alarm_description   = "The import API answered 5XX (Kinesis refused events or was throttled); System Two has to retry them."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}
