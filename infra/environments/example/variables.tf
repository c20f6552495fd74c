variable "region" {
  description = "AWS region of the pipeline (and AWS_REGION of the Django consumer)."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name, the prefix of every resource (prod, pre-prod, ...)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource (provider default_tags and the module's tags)."
  type        = map(string)
  default     = {}
}

variable "buffering_size_mb" {
  description = "Firehose S3 buffer size in MB (1-128)."
  type        = number
  default     = 5
}

variable "buffering_interval_seconds" {
  description = "Firehose S3 buffer interval in seconds (0-900)."
  type        = number
  default     = 60
}

variable "processor_buffer_size_mb" {
  description = "Firehose buffer before the transform Lambda, in MB (0.2-3)."
  type        = number
  default     = 1
}

variable "processor_buffer_interval_seconds" {
  description = "Firehose buffer interval before the transform Lambda, in seconds (0-900)."
  type        = number
  default     = 10
}

variable "kinesis_retention_hours" {
  description = "Retention of the Kinesis streams in hours."
  type        = number
  default     = 72
}

variable "s3_retention_days" {
  description = "Days before delivered files expire (null: never)."
  type        = number
  default     = 400
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups in days."
  type        = number
  default     = 365
}

variable "system_two_principal_arns" {
  description = "IAM roles System Two signs its API requests with (SigV4); only they may call the import API."
  type        = list(string)
}

variable "api_allowed_source_cidrs" {
  description = "System Two's source address ranges; empty: any address (the signature is still required)."
  type        = list(string)
  default     = []
}

variable "api_throttle_rate_limit" {
  description = "Requests per second allowed to System Two."
  type        = number
  default     = 100
}

variable "api_throttle_burst_limit" {
  description = "Burst of requests allowed to System Two."
  type        = number
  default     = 200
}

variable "alarm_topic_arn" {
  description = "SNS topic for the alarms (null: no notifications)."
  type        = string
  default     = null
}

variable "manage_api_gateway_account" {
  description = "Register API Gateway's account-wide CloudWatch Logs role (once per account and region; false if another stack does)."
  type        = bool
  default     = true
}
