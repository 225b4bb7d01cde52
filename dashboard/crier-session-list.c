/* crier-session-list.c: the connected sessions as a GListModel.
 *
 * Key functions:
 *   crier_session_list_add_batch ()  one items-changed per page or batch
 *   crier_session_list_replace ()    resync in one items-changed
 *   start_fill ()                    watch_sessions + paged list_sessions
 *   list_page_cb ()                  a page: appended at once into an empty
 *                                    list, else collected for a replace
 *   session_opened_cb (), session_closed_cb (), sessions_resync_cb ()
 */
#include "config.h"

#include "crier-session-list.h"
#include "crier-json.h"

#define FILL_PAGE_SIZE CRIER_ADMIN_MAX_PAGE_SIZE

struct _CrierSessionList
{
  GObject           parent_instance;

  GPtrArray        *items;        /* CrierSessionItem, insertion order */
  GHashTable       *by_id;        /* id -> CrierSessionItem (borrowed) */

  CrierAdminClient *client;
  GCancellable     *cancellable;  /* of the current fill */
  guint             generation;   /* of the current fill */
  gboolean          loading;
  gboolean          collecting;   /* fill into @collected, then replace */
  GPtrArray        *collected;    /* CrierAdminSessionInfo */
  GHashTable       *closed;       /* ids closed while filling */
};

static void crier_session_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CrierSessionList, crier_session_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      crier_session_list_model_init))

enum {
  PROP_0,
  PROP_CLIENT,
  PROP_LOADING,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void list_page (CrierSessionList *self,
                       guint             page);

static GType
crier_session_list_get_item_type (GListModel *model)
{
  return CRIER_TYPE_SESSION_ITEM;
}

static guint
crier_session_list_get_n_items (GListModel *model)
{
  return CRIER_SESSION_LIST (model)->items->len;
}

static gpointer
crier_session_list_get_item (GListModel *model,
                             guint       position)
{
  CrierSessionList *self = CRIER_SESSION_LIST (model);

  if (position >= self->items->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
crier_session_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = crier_session_list_get_item_type;
  iface->get_n_items = crier_session_list_get_n_items;
  iface->get_item = crier_session_list_get_item;
}

static void
items_changed (CrierSessionList *self,
               guint             position,
               guint             removed,
               guint             added)
{
  if (removed == 0 && added == 0)
    return;

  g_list_model_items_changed (G_LIST_MODEL (self), position, removed, added);
  if (removed != added)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static void
set_loading (CrierSessionList *self,
             gboolean          loading)
{
  if (self->loading == loading)
    return;

  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

guint
crier_session_list_add_batch (CrierSessionList             *self,
                              CrierAdminSessionInfo * const *infos,
                              guint                         n_infos)
{
  guint position;

  g_return_val_if_fail (CRIER_IS_SESSION_LIST (self), 0);
  g_return_val_if_fail (infos != NULL || n_infos == 0, 0);

  position = self->items->len;
  for (guint i = 0; i < n_infos; i++)
    {
      CrierSessionItem *item = g_hash_table_lookup (self->by_id, infos[i]->id);

      if (item != NULL)
        {
          crier_session_item_update (item, infos[i]);
          continue;
        }

      item = crier_session_item_new (infos[i]);
      g_ptr_array_add (self->items, item);
      g_hash_table_insert (self->by_id, (gpointer) crier_session_item_get_id (item), item);
    }

  items_changed (self, position, 0, self->items->len - position);

  return self->items->len - position;
}

void
crier_session_list_add (CrierSessionList            *self,
                        const CrierAdminSessionInfo *info)
{
  CrierAdminSessionInfo *infos[1] = { (CrierAdminSessionInfo *) info };

  g_return_if_fail (CRIER_IS_SESSION_LIST (self));
  g_return_if_fail (info != NULL);

  crier_session_list_add_batch (self, infos, 1);
}

gboolean
crier_session_list_remove (CrierSessionList *self,
                           const char       *id)
{
  CrierSessionItem *item;
  guint position;

  g_return_val_if_fail (CRIER_IS_SESSION_LIST (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  item = g_hash_table_lookup (self->by_id, id);
  if (item == NULL || !g_ptr_array_find (self->items, item, &position))
    return FALSE;

  g_hash_table_remove (self->by_id, id);
  g_ptr_array_remove_index (self->items, position);
  items_changed (self, position, 1, 0);

  return TRUE;
}

void
crier_session_list_replace (CrierSessionList             *self,
                            CrierAdminSessionInfo * const *infos,
                            guint                         n_infos)
{
  g_autoptr(GPtrArray) old_items = NULL;
  g_autoptr(GHashTable) old_by_id = NULL;
  guint old_len;

  g_return_if_fail (CRIER_IS_SESSION_LIST (self));
  g_return_if_fail (infos != NULL || n_infos == 0);

  old_items = g_steal_pointer (&self->items);
  old_by_id = g_steal_pointer (&self->by_id);
  old_len = old_items->len;

  self->items = g_ptr_array_new_full (n_infos, g_object_unref);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < n_infos; i++)
    {
      CrierSessionItem *item;

      if (g_hash_table_contains (self->by_id, infos[i]->id))
        continue;

      item = g_hash_table_lookup (old_by_id, infos[i]->id);
      if (item != NULL)
        {
          g_object_ref (item);
          crier_session_item_update (item, infos[i]);
        }
      else
        item = crier_session_item_new (infos[i]);

      g_ptr_array_add (self->items, item);
      g_hash_table_insert (self->by_id, (gpointer) crier_session_item_get_id (item), item);
    }

  items_changed (self, 0, old_len, self->items->len);
}

void
crier_session_list_clear (CrierSessionList *self)
{
  g_return_if_fail (CRIER_IS_SESSION_LIST (self));

  crier_session_list_replace (self, NULL, 0);
}

CrierSessionItem *
crier_session_list_lookup (CrierSessionList *self,
                           const char       *id)
{
  g_return_val_if_fail (CRIER_IS_SESSION_LIST (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  return g_hash_table_lookup (self->by_id, id);
}

/* ---- the session stream ------------------------------------------------- */

typedef struct
{
  CrierSessionList *self;
  guint             generation;
  guint             page;
} PageRequest;

static void
page_request_free (PageRequest *request)
{
  g_object_unref (request->self);
  g_free (request);
}

static void
finish_fill (CrierSessionList *self)
{
  if (self->collecting)
    {
      g_autoptr(GPtrArray) infos = g_ptr_array_new ();

      for (guint i = 0; i < self->collected->len; i++)
        {
          CrierAdminSessionInfo *info = g_ptr_array_index (self->collected, i);

          if (!g_hash_table_contains (self->closed, info->id))
            g_ptr_array_add (infos, info);
        }
      crier_session_list_replace (self, (CrierAdminSessionInfo * const *) infos->pdata, infos->len);
    }

  self->collecting = FALSE;
  g_ptr_array_set_size (self->collected, 0);
  g_hash_table_remove_all (self->closed);
  set_loading (self, FALSE);
}

static void
list_page_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  PageRequest *request = user_data;
  CrierSessionList *self = request->self;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) infos = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
  JsonObject *object_result;
  JsonArray *sessions;
  guint pages;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (request->generation != self->generation ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    goto out;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
        g_warning ("Could not list the sessions: %s", error->message);
      set_loading (self, FALSE);
      goto out;
    }

  object_result = json_node_get_object (node);
  pages = (guint) json_object_get_int_member_with_default (object_result, "pages", 1);
  sessions = crier_json_get_array (object_result, "sessions");
  for (guint i = 0; sessions != NULL && i < json_array_get_length (sessions); i++)
    {
      CrierAdminSessionInfo *info;

      info = crier_admin_session_info_from_json (json_array_get_element (sessions, i), &error);
      if (info == NULL)
        {
          g_warning ("Ignoring a session: %s", error->message);
          g_clear_error (&error);
          continue;
        }
      if (g_hash_table_contains (self->closed, info->id))
        crier_admin_session_info_free (info);
      else
        g_ptr_array_add (infos, info);
    }

  if (self->collecting)
    {
      for (guint i = 0; i < infos->len; i++)
        g_ptr_array_add (self->collected, g_steal_pointer (&infos->pdata[i]));
    }
  else
    crier_session_list_add_batch (self, (CrierAdminSessionInfo * const *) infos->pdata, infos->len);

  if (request->page < pages)
    list_page (self, request->page + 1);
  else
    finish_fill (self);

out:
  page_request_free (request);
}

static void
list_page (CrierSessionList *self,
           guint             page)
{
  CrierAdminRequest *list = crier_admin_request_new (CRIER_ADMIN_REQUEST_LIST_SESSIONS);
  PageRequest *request = g_new0 (PageRequest, 1);

  list->page = page;
  list->page_size = FILL_PAGE_SIZE;
  list->sort = CRIER_ADMIN_SORT_CONNECTED_AT;

  request->self = g_object_ref (self);
  request->generation = self->generation;
  request->page = page;
  crier_admin_client_call_async (self->client, list, self->cancellable, list_page_cb, request);
}

static void
start_fill (CrierSessionList *self)
{
  self->generation++;
  self->collecting = self->items->len > 0;
  g_ptr_array_set_size (self->collected, 0);
  g_hash_table_remove_all (self->closed);
  set_loading (self, TRUE);
  list_page (self, 1);
}

static void
watch_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(CrierSessionList) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;

  node = crier_admin_client_call_finish (CRIER_ADMIN_CLIENT (object), result, &error);
  if (node == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    g_warning ("Could not watch the sessions: %s", error->message);
}

static void
client_state_cb (CrierSessionList *self)
{
  CrierAdminRequest *watch;

  if (crier_admin_client_get_state (self->client) != CRIER_ADMIN_CLIENT_CONNECTED)
    {
      /* Replies of the old connection will not come. */
      self->generation++;
      set_loading (self, FALSE);
      return;
    }

  /* Watch first, so that nothing opened during the listing is missed. */
  watch = crier_admin_request_new (CRIER_ADMIN_REQUEST_WATCH_SESSIONS);
  crier_admin_client_call_async (self->client, watch, self->cancellable,
                                 watch_cb, g_object_ref (self));
  start_fill (self);
}

static void
session_opened_cb (CrierSessionList            *self,
                   const CrierAdminSessionInfo *info)
{
  g_hash_table_remove (self->closed, info->id);
  crier_session_list_add (self, info);
}

static void
session_closed_cb (CrierSessionList            *self,
                   const CrierAdminSessionInfo *info)
{
  if (self->loading)
    g_hash_table_add (self->closed, g_strdup (info->id));
  crier_session_list_remove (self, info->id);
}

static void
sessions_resync_cb (CrierSessionList *self,
                    guint             sessions)
{
  start_fill (self);
}

void
crier_session_list_set_client (CrierSessionList *self,
                               CrierAdminClient *client)
{
  g_return_if_fail (CRIER_IS_SESSION_LIST (self));
  g_return_if_fail (client == NULL || CRIER_IS_ADMIN_CLIENT (client));

  if (self->client == client)
    return;

  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_set_object (&self->client, client);
  self->generation++;

  if (client != NULL)
    {
      self->cancellable = g_cancellable_new ();
      g_signal_connect_object (client, "notify::state",
                               G_CALLBACK (client_state_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (client, "session-opened",
                               G_CALLBACK (session_opened_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (client, "session-closed",
                               G_CALLBACK (session_closed_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (client, "sessions-resync",
                               G_CALLBACK (sessions_resync_cb), self, G_CONNECT_SWAPPED);
      if (crier_admin_client_get_state (client) == CRIER_ADMIN_CLIENT_CONNECTED)
        client_state_cb (self);
    }

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIENT]);
}

CrierAdminClient *
crier_session_list_get_client (CrierSessionList *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_LIST (self), NULL);
  return self->client;
}

gboolean
crier_session_list_get_loading (CrierSessionList *self)
{
  g_return_val_if_fail (CRIER_IS_SESSION_LIST (self), FALSE);
  return self->loading;
}

/* ---- GObject ------------------------------------------------------------- */

static void
crier_session_list_dispose (GObject *object)
{
  CrierSessionList *self = CRIER_SESSION_LIST (object);

  crier_session_list_set_client (self, NULL);

  G_OBJECT_CLASS (crier_session_list_parent_class)->dispose (object);
}

static void
crier_session_list_finalize (GObject *object)
{
  CrierSessionList *self = CRIER_SESSION_LIST (object);

  g_clear_pointer (&self->by_id, g_hash_table_unref);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_pointer (&self->collected, g_ptr_array_unref);
  g_clear_pointer (&self->closed, g_hash_table_unref);

  G_OBJECT_CLASS (crier_session_list_parent_class)->finalize (object);
}

static void
crier_session_list_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  CrierSessionList *self = CRIER_SESSION_LIST (object);

  switch (prop_id)
    {
    case PROP_CLIENT:
      g_value_set_object (value, self->client);
      break;

    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;

    case PROP_N_ITEMS:
      g_value_set_uint (value, self->items->len);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_session_list_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  CrierSessionList *self = CRIER_SESSION_LIST (object);

  switch (prop_id)
    {
    case PROP_CLIENT:
      crier_session_list_set_client (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_session_list_class_init (CrierSessionListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = crier_session_list_dispose;
  object_class->finalize = crier_session_list_finalize;
  object_class->get_property = crier_session_list_get_property;
  object_class->set_property = crier_session_list_set_property;

  properties[PROP_CLIENT] =
    g_param_spec_object ("client", NULL, NULL, CRIER_TYPE_ADMIN_CLIENT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADING] =
    g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
crier_session_list_init (CrierSessionList *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  self->collected = g_ptr_array_new_with_free_func ((GDestroyNotify) crier_admin_session_info_free);
  self->closed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

CrierSessionList *
crier_session_list_new (void)
{
  return g_object_new (CRIER_TYPE_SESSION_LIST, NULL);
}
