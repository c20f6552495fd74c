output "api_url" {
  description = "Base URL System Two posts to: <api_url>/<stream> (SigV4-signed by its role, header x-api-key)."
  value       = "${aws_api_gateway_stage.this.invoke_url}/v1"
}

output "api_id" {
  description = "ID of the import API (REST API)."
  value       = aws_api_gateway_rest_api.this.id
}

output "api_key_id" {
  description = "ID of System Two's API key (aws apigateway get-api-key --include-value --api-key <id>)."
  value       = aws_api_gateway_api_key.system_two.id
}

output "api_key" {
  description = "System Two's API key (the x-api-key header value): selects its usage plan; authentication is SigV4."
  value       = aws_api_gateway_api_key.system_two.value
  sensitive   = true
}

output "bucket_name" {
  description = "The ingest bucket (INGEST_BUCKET of the Django settings)."
  value       = aws_s3_bucket.ingest.bucket
}

output "bucket_arn" {
  description = "ARN of the ingest bucket."
  value       = aws_s3_bucket.ingest.arn
}

output "queue_url" {
  description = "URL of the queue of S3 notifications (INGEST_QUEUE_URL of the Django settings)."
  value       = aws_sqs_queue.ingest.id
}

output "queue_arn" {
  description = "ARN of the queue of S3 notifications."
  value       = aws_sqs_queue.ingest.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue of the notification queue."
  value       = aws_sqs_queue.ingest_dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.ingest_dlq.arn
}

output "failed_records_queue_url" {
  description = "URL of the queue that names every error file under errors/ (for operators)."
  value       = aws_sqs_queue.failed_records.id
}

output "consumer_policy_arn" {
  description = "IAM policy to attach to the role of the Django event consumer (consume_events, reimport --missing, import_file)."
  value       = aws_iam_policy.consumer.arn
}

output "consumer_policy_json" {
  description = "The consumer policy document (JSON)."
  value       = data.aws_iam_policy_document.consumer.json
}

output "worker_policy_arn" {
  description = "IAM policy to attach to the role of the Celery import workers."
  value       = aws_iam_policy.worker.arn
}

output "worker_policy_json" {
  description = "The worker policy document (JSON)."
  value       = data.aws_iam_policy_document.worker.json
}

output "web_policy_arn" {
  description = "IAM policy to attach to the role of the Django web processes (gunicorn, the admin)."
  value       = aws_iam_policy.web.arn
}

output "web_policy_json" {
  description = "The web policy document (JSON)."
  value       = data.aws_iam_policy_document.web.json
}

output "system_two_invoke_policy_json" {
  description = "Identity policy for System Two's role(s): execute-api:Invoke on the POST methods of this stage (needed when System Two's account is another one)."
  value       = data.aws_iam_policy_document.system_two_invoke.json
}

output "system_two_snapshot_policy_json" {
  description = "Identity policy for System Two's role(s): s3:PutObject on snapshots/* only (and the bucket key through S3), to deliver snapshots for reconciliation."
  value       = data.aws_iam_policy_document.system_two_snapshots.json
}

output "stream_names" {
  description = "The System Two streams (from transforms/streams.json)."
  value       = local.stream_names
}

output "kinesis_stream_names" {
  description = "Kinesis data stream of each System Two stream."
  value       = { for name, s in aws_kinesis_stream.this : name => s.name }
}

output "firehose_delivery_stream_names" {
  description = "Firehose delivery stream of each System Two stream."
  value       = { for name, s in aws_kinesis_firehose_delivery_stream.this : name => s.name }
}

output "transform_function_name" {
  description = "Name of the transform Lambda."
  value       = aws_lambda_function.transform.function_name
}

output "kms_key_arn" {
  description = "The pipeline's KMS key (Kinesis, S3, logs)."
  value       = aws_kms_key.this.arn
}

output "django_environment" {
  description = "Environment variables pointing the Django consumer and workers at this pipeline."
  value = {
    INGEST_BUCKET      = aws_s3_bucket.ingest.bucket
    INGEST_QUEUE_URL   = aws_sqs_queue.ingest.id
    AWS_REGION         = local.region
    AWS_DEFAULT_REGION = local.region
  }
}
