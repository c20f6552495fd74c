# ---- Naming and tagging ----------------------------------------------------------------------

variable "environment" {
  description = "Environment name, the prefix of every resource: the Kinesis and Firehose streams are \"<environment>-<stream>\" for each stream of transforms/streams.json."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.environment))
    error_message = "environment must be 2-20 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "bucket_name" {
  description = "Name of the S3 bucket the Firehose streams write to. Null: \"<environment>-erp-ingest-<account id>-<region>\"."
  type        = string
  default     = null
}

# ---- Transform Lambda ------------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Path of the transform's deployment zip built by `python -m transforms.package`. Null: dist/transform.zip in the repository root."
  type        = string
  default     = null
}

variable "lambda_runtime" {
  description = "Python runtime of the transform Lambda (the transform uses the standard library only)."
  type        = string
  default     = "python3.11"

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.11, python3.12 or python3.13."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of the transform Lambda. Firehose hands it at most processor_buffer_size_mb (<= 3 MB) of records per invocation; memory also buys CPU."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of the transform Lambda. Firehose waits at most 5 minutes for a transform invocation, and recommends at least 1 minute."
  type        = number
  default     = 120

  validation {
    condition     = var.lambda_timeout_seconds >= 60 && var.lambda_timeout_seconds <= 300
    error_message = "lambda_timeout_seconds must be between 60 and 300 (Firehose's limit for a transform invocation)."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of the transform Lambda: caps what the nine Firehose streams can use (about one concurrent invocation per Kinesis shard) and guarantees it against other functions of the account."
  type        = number
  default     = 50

  validation {
    condition     = var.lambda_reserved_concurrency >= 1
    error_message = "lambda_reserved_concurrency must be at least 1."
  }
}

# ---- Kinesis and Firehose --------------------------------------------------------------------

variable "kinesis_retention_hours" {
  description = "How long the Kinesis streams keep records (24-8760). This is how long Firehose (and so the S3 files) can be down before events are lost."
  type        = number
  default     = 72

  validation {
    condition     = var.kinesis_retention_hours >= 24 && var.kinesis_retention_hours <= 8760
    error_message = "kinesis_retention_hours must be between 24 and 8760."
  }
}

variable "processor_buffer_size_mb" {
  description = "Firehose's buffer before it invokes the transform Lambda (BufferSizeInMBs, 0.2-3)."
  type        = number
  default     = 1

  validation {
    condition     = var.processor_buffer_size_mb >= 0.2 && var.processor_buffer_size_mb <= 3
    error_message = "processor_buffer_size_mb must be between 0.2 and 3."
  }
}

variable "processor_buffer_interval_seconds" {
  description = "Longest time Firehose buffers records before it invokes the transform Lambda (BufferIntervalInSeconds, 0-900)."
  type        = number
  default     = 10

  validation {
    condition     = var.processor_buffer_interval_seconds >= 0 && var.processor_buffer_interval_seconds <= 900
    error_message = "processor_buffer_interval_seconds must be between 0 and 900."
  }
}

variable "processor_retries" {
  description = "How often Firehose retries a failed transform invocation before it writes the batch to the errors/ prefix."
  type        = number
  default     = 3

  validation {
    condition     = var.processor_retries >= 0 && var.processor_retries <= 300
    error_message = "processor_retries must be between 0 and 300."
  }
}

variable "buffering_size_mb" {
  description = "Firehose's S3 buffer: a file is written when this many MB are buffered (1-128) or buffering_interval_seconds has passed."
  type        = number
  default     = 5

  validation {
    condition     = var.buffering_size_mb >= 1 && var.buffering_size_mb <= 128
    error_message = "buffering_size_mb must be between 1 and 128."
  }
}

variable "buffering_interval_seconds" {
  description = "Longest time Firehose buffers transformed records before it writes an S3 file (0-900). Below 60 Firehose uses multipart uploads (more S3 requests, more files)."
  type        = number
  default     = 60

  validation {
    condition     = var.buffering_interval_seconds >= 0 && var.buffering_interval_seconds <= 900
    error_message = "buffering_interval_seconds must be between 0 and 900."
  }
}

# ---- Bucket --------------------------------------------------------------------------------

variable "s3_transition_to_ia_days" {
  description = "Days after which delivered files move to S3 Standard-IA (the importer reads a file within minutes of its creation). Null: never."
  type        = number
  default     = 30

  validation {
    condition     = var.s3_transition_to_ia_days == null || try(var.s3_transition_to_ia_days >= 30, false)
    error_message = "s3_transition_to_ia_days must be null or at least 30 (the S3 minimum for Standard-IA)."
  }
}

variable "s3_retention_days" {
  description = "Days after which delivered files (and error files) expire. Null: keep them forever. They are the replayable record of every event System Two sent."
  type        = number
  default     = 400

  validation {
    condition     = var.s3_retention_days == null || try(var.s3_retention_days >= 1, false)
    error_message = "s3_retention_days must be null or at least 1."
  }
}

variable "s3_noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.s3_noncurrent_version_retention_days >= 1
    error_message = "s3_noncurrent_version_retention_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Name of an existing bucket for S3 server access logs of the ingest bucket (prefix \"<bucket name>/\"). Null: no server access logs."
  type        = string
  default     = null
}

# ---- Queue ---------------------------------------------------------------------------------

variable "queue_visibility_timeout_seconds" {
  description = "How long a received S3 notification stays invisible to other consumers. Must exceed the time the consumer needs to read one Firehose file and hand it to the importer, or the file is imported twice (harmless, the import is idempotent, but wasted work)."
  type        = number
  default     = 300

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 30 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "queue_visibility_timeout_seconds must be between 30 and 43200."
  }
}

variable "queue_message_retention_seconds" {
  description = "How long an S3 notification waits in the queue for the consumer (60-1209600). The dead-letter queue keeps messages for the maximum, 14 days, which must be longer: a message keeps its original enqueue time when it moves there."
  type        = number
  default     = 604800

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds < 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209599 (below the dead-letter queue's 14 days)."
  }
}

variable "dlq_max_receive_count" {
  description = "Receives of one S3 notification before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.dlq_max_receive_count >= 1 && var.dlq_max_receive_count <= 1000
    error_message = "dlq_max_receive_count must be between 1 and 1000."
  }
}

# ---- API ------------------------------------------------------------------------------------

variable "system_two_principal_arns" {
  description = "ARNs of the IAM roles (or users) System Two signs its requests with (SigV4). Only they may invoke the import API (its resource policy); give them the policy of output system_two_invoke_policy_json."
  type        = list(string)

  validation {
    condition     = length(var.system_two_principal_arns) > 0 && alltrue([for arn in var.system_two_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "system_two_principal_arns must list at least one IAM role or user ARN (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "api_allowed_source_cidrs" {
  description = "If not empty, the import API refuses requests from any other source address (System Two's egress ranges, CIDR notation)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.api_allowed_source_cidrs : can(cidrhost(cidr, 0))])
    error_message = "api_allowed_source_cidrs must hold CIDR blocks, e.g. 203.0.113.0/24."
  }
}

variable "api_stage_name" {
  description = "Name of the API Gateway stage; the import API is <invoke url of the stage>/v1/{stream}."
  type        = string
  default     = "live"
}

variable "api_throttle_rate_limit" {
  description = "Steady-state requests per second allowed to System Two's usage plan and to the stage."
  type        = number
  default     = 100
}

variable "api_throttle_burst_limit" {
  description = "Burst of requests allowed to System Two's API key (usage plan) and to the stage."
  type        = number
  default     = 200
}

variable "api_quota_per_day" {
  description = "Requests per day allowed to System Two's API key. Null: no quota (throttling only)."
  type        = number
  default     = null
}

variable "api_logging_level" {
  description = "API Gateway execution logging level (OFF, ERROR, INFO). Request and response bodies are never logged (data_trace_enabled is false)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.api_logging_level)
    error_message = "api_logging_level must be OFF, ERROR or INFO."
  }
}

variable "manage_api_gateway_account" {
  description = "Create the account-wide (per region) API Gateway CloudWatch Logs role and register it. Logging needs it once per account and region; leave false where another stack already manages aws_api_gateway_account."
  type        = bool
  default     = false
}

variable "waf_web_acl_arn" {
  description = "ARN of a regional WAFv2 web ACL to associate with the API stage. Null: none."
  type        = string
  default     = null
}

# ---- Logs, keys, alarms ------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (API access logs, Firehose, Lambda)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the pipeline's KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic notified when an alarm fires or recovers. Null: alarms without actions."
  type        = string
  default     = null
}

variable "firehose_freshness_alarm_seconds" {
  description = "Alarm when the oldest record not yet delivered to S3 by a Firehose stream is older than this."
  type        = number
  default     = 900
}

variable "queue_age_alarm_seconds" {
  description = "Alarm when the oldest S3 notification in the queue is older than this (the consumer is down or too slow)."
  type        = number
  default     = 900
}
