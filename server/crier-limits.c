/* crier-limits.c: token buckets and limit names (see the header). */
#include "config.h"

#include "crier-limits.h"

#include <math.h>

static const char * const limit_names[CRIER_LIMIT_N] = {
  [CRIER_LIMIT_PER_ADDRESS] = "per_address",
  [CRIER_LIMIT_CONNECT_RATE] = "connect_rate",
  [CRIER_LIMIT_CONNECT_RATE_ADDR] = "connect_rate_address",
  [CRIER_LIMIT_REQUEST_TIMEOUT] = "request_timeout",
  [CRIER_LIMIT_IDLE_TIMEOUT] = "idle_timeout",
  [CRIER_LIMIT_HEADER_TOO_LARGE] = "header_too_large",
  [CRIER_LIMIT_COMMAND_RATE] = "command_rate",
  [CRIER_LIMIT_COMMAND_ABUSE] = "command_abuse",
  [CRIER_LIMIT_CHANNEL_FULL] = "channel_full",
  [CRIER_LIMIT_ORIGIN] = "origin",
  [CRIER_LIMIT_TLS_HANDSHAKE] = "tls_handshake",
  [CRIER_LIMIT_COMMAND_QUEUE] = "command_queue",
  [CRIER_LIMIT_MESSAGE_SIZE] = "message_size",
  [CRIER_LIMIT_BINARY_FRAME] = "binary_frame",
  [CRIER_LIMIT_BODY_SIZE] = "body_size",
};

const char *
crier_limit_reason_to_string (CrierLimitReason reason)
{
  g_return_val_if_fail (reason < CRIER_LIMIT_N, "?");

  return limit_names[reason];
}

gboolean
crier_token_bucket_take (CrierTokenBucket *bucket,
                         double            rate,
                         double            burst,
                         gint64            now_us)
{
  if (rate <= 0)
    return TRUE;
  burst = MAX (burst, 1.0);

  if (bucket->last_us == 0)
    bucket->tokens = burst;
  else if (now_us > bucket->last_us)
    bucket->tokens = MIN (burst, bucket->tokens + rate * (double) (now_us - bucket->last_us) / G_USEC_PER_SEC);
  bucket->last_us = now_us;

  if (bucket->tokens < 1.0)
    return FALSE;
  bucket->tokens -= 1.0;
  return TRUE;
}

guint
crier_token_bucket_wait_s (const CrierTokenBucket *bucket,
                           double                  rate)
{
  double missing;

  if (rate <= 0)
    return 1;
  missing = 1.0 - bucket->tokens;
  if (missing <= 0)
    return 1;
  return (guint) MAX (1.0, ceil (missing / rate));
}
