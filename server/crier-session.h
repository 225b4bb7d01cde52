/* crier-session.h: one connected client, whatever its transport.
 *
 * A session has an id (the protocol's client id), a user, its
 * subscriptions, and a small vtable through which the hub reaches the
 * transport: send a cached publication frame, send a push built for this
 * session only, disconnect with a protocol code.
 */
#pragma once

#include <glib.h>

#include "crier-publication.h"

G_BEGIN_DECLS

typedef struct _CrierSession       CrierSession;
typedef struct _CrierSubscription  CrierSubscription;

typedef struct
{
  const char *transport;    /* "websocket", "uni_websocket", "sse", ... */
  /* A cached wire form (crier_publication_encode (pub, session->encoding)).
   * FALSE when the session is gone (e.g. evicted by this very send). */
  gboolean (*send_encoded) (CrierSession *session,
                            GBytes       *frame);
  /* A push for this session only, as the JSON of the push body without the
   * transport's wrapping, e.g. {"channel":"c","unsubscribe":{"code":2000,
   * "reason":"server unsubscribe"}}. */
  gboolean (*send_push)    (CrierSession *session,
                            const char   *push_json);
  /* Disconnect with a protocol code (3000-4999) and reason. */
  void     (*disconnect)   (CrierSession *session,
                            guint         code,
                            const char   *reason);
} CrierSessionClass;

struct _CrierSession
{
  const CrierSessionClass *klass;
  gpointer       transport;     /* the transport's own object */
  CrierEncoding  encoding;      /* wire form of publications for this session */
  const char    *transport_name; /* "websocket", "sse", ... (static string) */
  struct _CrierConn *conn;      /* the engine connection carrying it, or NULL */
  char          *id;            /* client id: 128 random bits, hex */
  char          *user;          /* "" = anonymous */
  char          *conn_info;     /* JSON or NULL (token "info") */
  char          *client_info;   /* ClientInfo JSON without chan_info, built once */
  char          *remote;        /* "ip:port" */
  char          *user_agent;
  GHashTable    *subscriptions; /* channel -> CrierSubscription* */
  gint64         connected_at;  /* wall clock µs */
  gint64         expire_at;     /* wall clock s, 0 = never */
  guint64        pubs_out;      /* publications delivered */
  guint64        commands_in;
  gboolean       registered;    /* known to the hub */
};

struct _CrierSubscription
{
  CrierSession *session;
  char         *channel;
  gpointer      hub_channel;    /* private to the hub */
  guint         positioned : 1;
  guint         recoverable : 1;
  guint         join_leave : 1;  /* wants join/leave pushes */
  guint         server_side : 1; /* from the connection token */
  guint         recovering : 1;  /* reply not sent yet: publications wait */
  char         *chan_info;      /* JSON or NULL (sub token "info") */
  char         *info;           /* ClientInfo JSON with chan_info (presence, join/leave) */
  guint64       offset;         /* last offset delivered */
  GPtrArray    *pending;        /* CrierPublication* buffered while recovering */
  gint64        expire_at;      /* wall clock s, 0 = never */
  char         *epoch;          /* stream epoch of @offset (positioned), NULL or
                                 * "" until known */

  /*< private >*/
  guint         hub_index;      /* slot in the hub channel's subscriber array */
  gpointer      hub_pending;    /* the hub's subscribe operation while recovering */
};

/* The id is fresh and random (crier_random_id (16)); user "". Free only
 * after crier_hub_remove_session. */
CrierSession *crier_session_new          (const CrierSessionClass *klass,
                                          gpointer                 transport,
                                          CrierEncoding            encoding);
void          crier_session_free         (CrierSession            *session);
/* Sets user and conn_info (kept compact; NULL when not JSON) and rebuilds
 * client_info. */
void          crier_session_set_identity (CrierSession            *session,
                                          const char              *user,
                                          const char              *conn_info);
/* ClientInfo JSON: {"user":..,"client":..,"conn_info":..,"chan_info":..};
 * conn_info and chan_info are raw JSON values (kept compact, left out when
 * NULL or not JSON). */
char         *crier_client_info_json     (const char              *user,
                                          const char              *client,
                                          const char              *conn_info,
                                          const char              *chan_info);

G_END_DECLS
