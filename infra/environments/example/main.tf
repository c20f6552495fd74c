# Example root configuration: one environment of the System Two ingest pipeline.
# Build the transform first (from the repository root): python -m transforms.package
module "ingest_pipeline" {
  source = "../../modules/ingest_pipeline"

  environment = var.environment
  tags        = var.tags

  buffering_size_mb                 = var.buffering_size_mb
  buffering_interval_seconds        = var.buffering_interval_seconds
  processor_buffer_size_mb          = var.processor_buffer_size_mb
  processor_buffer_interval_seconds = var.processor_buffer_interval_seconds

  kinesis_retention_hours = var.kinesis_retention_hours
  s3_retention_days       = var.s3_retention_days
  log_retention_days      = var.log_retention_days

  system_two_principal_arns = var.system_two_principal_arns
  api_allowed_source_cidrs  = var.api_allowed_source_cidrs

  api_throttle_rate_limit  = var.api_throttle_rate_limit
  api_throttle_burst_limit = var.api_throttle_burst_limit

  alarm_topic_arn            = var.alarm_topic_arn
  manage_api_gateway_account = var.manage_api_gateway_account
}
