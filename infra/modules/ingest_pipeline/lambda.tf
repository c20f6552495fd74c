# The Firehose transform (transforms/handler.py). One function serves the nine delivery
# streams: it reads the stream from the delivery stream's name ("<environment>-<stream>").
# Build the zip first: `python -m transforms.package` (writes dist/transform.zip).
resource "aws_lambda_function" "transform" {
  #checkov:skip=CKV_AWS_116:Firehose invokes the transform synchronously and retries it itself (processor_retries), then writes the batch to errors/; a Lambda DLQ only receives failed asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The transform only computes on the records Firehose hands it and calls no other service; a VPC would add ENIs and NAT cost for no network to protect.
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly by `python -m transforms.package` from the reviewed repository and pinned by source_code_hash; there is no signing profile in this project.
  function_name = local.lambda_function_name
  description   = "System Two events -> import records, for the ${var.environment} Firehose streams"
  role          = aws_iam_role.lambda.arn

  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)
  handler          = "transforms.handler.lambda_handler"
  runtime          = var.lambda_runtime
  architectures    = ["arm64"]

  # Firehose invokes with at most processor_buffer_size_mb (<= 3 MB) of records and waits at
  # most 5 minutes; the transform is CPU-bound JSON work, so memory (= CPU) matters more.
  memory_size                    = var.lambda_memory_mb
  timeout                        = var.lambda_timeout_seconds
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  tracing_config {
    mode = "Active"
  }

  tags = local.tags

  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
  ]
}

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.lambda_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}
