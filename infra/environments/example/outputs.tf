output "api_url" {
  description = "System Two posts each event to <api_url>/<stream>."
  value       = module.ingest_pipeline.api_url
}

output "api_key_id" {
  description = "ID of System Two's API key."
  value       = module.ingest_pipeline.api_key_id
}

output "api_key" {
  description = "System Two's API key (terraform output -raw api_key)."
  value       = module.ingest_pipeline.api_key
  sensitive   = true
}

output "bucket_name" {
  description = "INGEST_BUCKET"
  value       = module.ingest_pipeline.bucket_name
}

output "queue_url" {
  description = "INGEST_QUEUE_URL"
  value       = module.ingest_pipeline.queue_url
}

output "queue_arn" {
  description = "ARN of the notification queue."
  value       = module.ingest_pipeline.queue_arn
}

output "dlq_url" {
  description = "Dead-letter queue of the notification queue."
  value       = module.ingest_pipeline.dlq_url
}

output "failed_records_queue_url" {
  description = "Queue naming the error files under errors/."
  value       = module.ingest_pipeline.failed_records_queue_url
}

output "consumer_policy_arn" {
  description = "Attach to the role of the Django event consumer."
  value       = module.ingest_pipeline.consumer_policy_arn
}

output "consumer_policy_json" {
  description = "The consumer policy document."
  value       = module.ingest_pipeline.consumer_policy_json
}

output "worker_policy_arn" {
  description = "Attach to the role of the Celery import workers."
  value       = module.ingest_pipeline.worker_policy_arn
}

output "web_policy_arn" {
  description = "Attach to the role of the Django web processes."
  value       = module.ingest_pipeline.web_policy_arn
}

output "system_two_invoke_policy_json" {
  description = "Attach to System Two's role: it may POST events to the import API."
  value       = module.ingest_pipeline.system_two_invoke_policy_json
}

output "system_two_snapshot_policy_json" {
  description = "Attach to System Two's role: it may put snapshots under snapshots/ for reconciliation."
  value       = module.ingest_pipeline.system_two_snapshot_policy_json
}

output "stream_names" {
  description = "The System Two streams."
  value       = module.ingest_pipeline.stream_names
}

output "kinesis_stream_names" {
  description = "Kinesis stream of each System Two stream."
  value       = module.ingest_pipeline.kinesis_stream_names
}

output "firehose_delivery_stream_names" {
  description = "Firehose delivery stream of each System Two stream."
  value       = module.ingest_pipeline.firehose_delivery_stream_names
}

output "django_environment" {
  description = "INGEST_BUCKET, INGEST_QUEUE_URL and AWS_REGION for the Django consumer and workers."
  value       = module.ingest_pipeline.django_environment
}
