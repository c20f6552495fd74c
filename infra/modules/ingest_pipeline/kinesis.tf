# One Kinesis data stream per System Two stream, "<environment>-<stream>". On-demand capacity:
# System Two's traffic follows business hours and bulk corrections, and nobody should have to
# resize shards for it. The API's PartitionKey (the entity's key) keeps one entity's events on
# one shard, in order.
resource "aws_kinesis_stream" "this" {
  for_each = local.streams

  name             = local.resource_names[each.key]
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.this.arn

  stream_mode_details {
    stream_mode = "ON_DEMAND"
  }

  tags = local.tags
}
