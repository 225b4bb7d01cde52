/* crier-window.c: the dashboard's main window.
 *
 * Key functions:
 *   crier_window_init ()                    template, GSettings bindings (size,
 *                                           maximized), the settings.* actions,
 *                                           the admin client and the pages
 *   crier_window_server_address_changed ()  address from the setting (or the
 *                                           --admin-socket override), token
 *                                           file, (re)connect
 *   crier_window_client_state_changed ()    header subtitle, status page per
 *                                           error kind, views when connected
 *   crier_window_trust_certificate_action () confirms an untrusted TLS
 *                                           certificate by its fingerprint
 *                                           and pins it
 *   crier_window_save_native_screenshot ()  renders a window to a PNG
 */
#include "config.h"

#include "crier-window.h"
#include "crier-connect-dialog.h"
#include "crier-credentials.h"

#include <glib/gi18n.h>

struct _CrierWindow
{
  AdwApplicationWindow  parent_instance;

  GSettings            *settings;
  char                 *address;           /* what the admin client connects to */
  char                 *address_override;  /* --admin-socket */
  CrierAdminClient     *client;
  CrierBroadcastDialog *broadcast_dialog;  /* weak */
  AdwMessageDialog     *trust_dialog;      /* weak */
  guint                 countdown_id;

  /* Template children */
  AdwToastOverlay      *toast_overlay;
  GtkStack             *content_stack;
  AdwViewStack         *view_stack;
  AdwViewSwitcherTitle *switcher_title;
  AdwStatusPage        *not_connected_page;
  GtkWidget            *connection_spinner;
  GtkImage             *connection_icon;
  GtkWidget            *trust_button;
  CrierOverviewPage    *overview_page;
  CrierSessionsPage    *sessions_page;
  CrierChannelsPage    *channels_page;
  CrierAlertsPage      *alerts_page;
  CrierNodesPage       *nodes_page;
};

G_DEFINE_FINAL_TYPE (CrierWindow, crier_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_ADDRESS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
crier_window_client_state_changed (CrierWindow *self)
{
  CrierAdminClientState state = crier_admin_client_get_state (self->client);
  CrierAdminClientReason reason = crier_admin_client_get_reason (self->client);
  const char *error_message = crier_admin_client_get_error_message (self->client);
  g_autofree char *escaped = g_markup_escape_text (self->address != NULL ? self->address : "", -1);
  g_autofree char *where = g_strdup_printf ("<tt>%s</tt>", escaped);
  g_autofree char *description = NULL;
  g_autofree char *subtitle = NULL;
  const char *icon = "network-offline-symbolic";
  const char *title = _("Not Connected");
  guint retry = crier_admin_client_get_retry_delay (self->client);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.broadcast",
                                 state == CRIER_ADMIN_CLIENT_CONNECTED);
  gtk_widget_set_visible (self->trust_button,
                          state == CRIER_ADMIN_CLIENT_ERROR &&
                          reason == CRIER_ADMIN_CLIENT_REASON_UNTRUSTED_CERTIFICATE);
  gtk_widget_set_visible (self->connection_spinner, state == CRIER_ADMIN_CLIENT_CONNECTING);
  gtk_widget_set_visible (GTK_WIDGET (self->connection_icon), state != CRIER_ADMIN_CLIENT_CONNECTING);

  if (state == CRIER_ADMIN_CLIENT_CONNECTED)
    {
      const char *node = crier_admin_client_get_node (self->client);

      /* Translators: %s is the server's node name. */
      subtitle = g_strdup_printf (_("Connected to %s"), node != NULL && node[0] != '\0' ? node : self->address);
      adw_view_switcher_title_set_subtitle (self->switcher_title, subtitle);
      gtk_image_set_from_icon_name (self->connection_icon, "network-transmit-receive-symbolic");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->connection_icon), subtitle);
      gtk_stack_set_visible_child_name (self->content_stack, "views");
      return;
    }

  gtk_image_set_from_icon_name (self->connection_icon, "network-offline-symbolic");

  switch (state == CRIER_ADMIN_CLIENT_ERROR || state == CRIER_ADMIN_CLIENT_CONNECTING
          ? reason : CRIER_ADMIN_CLIENT_REASON_NONE)
    {
    case CRIER_ADMIN_CLIENT_REASON_NONE:
      if (state == CRIER_ADMIN_CLIENT_CONNECTING)
        {
          title = _("Connecting…");
          /* Translators: %s is a socket path or host:port, in <tt> markup. */
          description = g_strdup_printf (_("Connecting to the Crier server at %s."), where);
        }
      else if (self->address != NULL && g_path_is_absolute (self->address))
        /* Translators: %s is the path of a Unix socket, such as /run/crier/admin.sock. */
        description = g_strdup_printf (_("The dashboard is not connected to a Crier server yet. "
                                         "It will connect to the admin socket at %s."),
                                       where);
      else
        /* Translators: %s is a host and port, such as crier.example.com:8001. */
        description = g_strdup_printf (_("The dashboard is not connected to a Crier server yet. "
                                         "It will connect to the admin endpoint at %s."),
                                       where);
      break;

    case CRIER_ADMIN_CLIENT_REASON_NO_SERVER:
      title = _("No Server Running");
      /* Translators: %s is a socket path or host:port, in <tt> markup. */
      description = g_strdup_printf (_("No Crier server answers at %s. Start crierd, or connect "
                                       "to another server. The dashboard keeps trying."),
                                     where);
      break;

    case CRIER_ADMIN_CLIENT_REASON_PERMISSION_DENIED:
      icon = "dialog-password-symbolic";
      title = _("Permission Denied");
      /* Translators: %s is a socket path or host:port, in <tt> markup. */
      description = g_strdup_printf (_("The server at %s refused this user. Run the dashboard as "
                                       "the user that runs crierd, or as root."),
                                     where);
      break;

    case CRIER_ADMIN_CLIENT_REASON_WRONG_TOKEN:
      icon = "dialog-password-symbolic";
      title = _("Wrong Token");
      /* Translators: %s is host:port, in <tt> markup. */
      description = g_strdup_printf (_("The server at %s refused the admin token. Enter the "
                                       "token of its [admin] token setting."),
                                     where);
      break;

    case CRIER_ADMIN_CLIENT_REASON_VERSION_MISMATCH:
      icon = "dialog-warning-symbolic";
      title = _("Incompatible Server");
      /* Translators: %s is a socket path or host:port, in <tt> markup; %d a version number. */
      description = g_strdup_printf (_("The server at %s speaks another version of the admin "
                                       "protocol than this dashboard (version %d). Update one "
                                       "of them."),
                                     where, CRIER_ADMIN_PROTOCOL_VERSION);
      break;

    case CRIER_ADMIN_CLIENT_REASON_BAD_ADDRESS:
      icon = "dialog-error-symbolic";
      title = _("Invalid Address");
      /* Translators: %s is what the user typed, in <tt> markup. */
      description = g_strdup_printf (_("%s is neither the path of a socket nor host:port."), where);
      break;

    case CRIER_ADMIN_CLIENT_REASON_LOST:
      title = _("Connection Lost");
      /* Translators: %s is a socket path or host:port, in <tt> markup. */
      description = g_strdup_printf (_("The connection to %s broke. The dashboard reconnects "
                                       "on its own."),
                                     where);
      break;

    case CRIER_ADMIN_CLIENT_REASON_UNTRUSTED_CERTIFICATE:
      {
        GTlsCertificate *certificate = crier_admin_client_get_peer_certificate (self->client);
        g_autofree char *fingerprint = certificate != NULL
                                       ? crier_admin_client_certificate_fingerprint (certificate) : NULL;

        icon = "channel-insecure-symbolic";
        title = _("Untrusted Certificate");
        /* Translators: the first %s is host:port in <tt> markup, the second a
         * SHA-256 fingerprint. */
        description = g_strdup_printf (_("The server at %s presented a certificate that no "
                                         "trusted authority vouches for. Its SHA-256 "
                                         "fingerprint is\n<tt>%s</tt>\nChoose the certificate "
                                         "authority file in the connection settings, or trust "
                                         "this certificate if the fingerprint is the one of "
                                         "crierd’s certificate."),
                                       where, fingerprint != NULL ? fingerprint : "—");
      }
      break;

    case CRIER_ADMIN_CLIENT_REASON_OTHER:
    default:
      {
        g_autofree char *escaped_error = g_markup_escape_text (error_message != NULL ? error_message : "", -1);

        icon = "dialog-error-symbolic";
        title = _("Cannot Connect");
        /* Translators: the first %s is an address in <tt> markup, the second an error message. */
        description = g_strdup_printf (_("Could not connect to %s: %s"), where, escaped_error);
      }
      break;
    }

  if (state == CRIER_ADMIN_CLIENT_ERROR && retry > 0)
    {
      /* Translators: appended to the reason; %u is a number of seconds. */
      g_autofree char *next = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "Next attempt in %u second.",
                                                            "Next attempt in %u seconds.",
                                                            (retry + 999) / 1000),
                                               (retry + 999) / 1000);
      g_autofree char *joined = g_strdup_printf ("%s\n%s", description, next);

      g_free (description);
      description = g_steal_pointer (&joined);
    }

  adw_status_page_set_icon_name (self->not_connected_page, icon);
  adw_status_page_set_title (self->not_connected_page, title);
  adw_status_page_set_description (self->not_connected_page, description);
  adw_view_switcher_title_set_subtitle (self->switcher_title, title);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->connection_icon), title);
  gtk_stack_set_visible_child_name (self->content_stack, "status");
}

static void
crier_window_server_address_changed (CrierWindow *self,
                                     const char  *key,
                                     GSettings   *settings)
{
  g_autofree char *address = NULL;
  g_autofree char *token = NULL;

  if (self->address_override != NULL)
    address = g_strdup (self->address_override);
  else
    address = g_settings_get_string (settings, "server-address");
  g_strstrip (address);
  if (address[0] == '\0')
    {
      g_free (address);
      address = crier_admin_default_socket_path ();
    }

  if (g_strcmp0 (self->address, address) != 0)
    {
      g_free (self->address);
      self->address = g_strdup (address);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ADDRESS]);
    }

  /* The token and TLS are for TCP only; a socket is authorized by its
   * owner. */
  if (!g_path_is_absolute (address))
    {
      g_autofree char *ca_file = g_settings_get_string (settings, "server-ca-file");
      g_autofree char *pin = g_settings_get_string (settings, "server-certificate-pin");

      token = crier_credentials_load_token ();
      crier_admin_client_set_tls (self->client, g_settings_get_boolean (settings, "server-tls"),
                                  ca_file, pin);
    }
  else
    crier_admin_client_set_tls (self->client, FALSE, NULL, NULL);
  crier_admin_client_connect_to (self->client, address, token);
  crier_window_client_state_changed (self);
}

static gboolean
crier_window_countdown_cb (gpointer user_data)
{
  CrierWindow *self = user_data;

  /* Only refreshes "Next attempt in N seconds". */
  if (crier_admin_client_get_state (self->client) == CRIER_ADMIN_CLIENT_ERROR)
    crier_window_client_state_changed (self);

  return G_SOURCE_CONTINUE;
}

static void
crier_window_copy_address_action (GtkWidget  *widget,
                                  const char *action_name,
                                  GVariant   *parameter)
{
  CrierWindow *self = CRIER_WINDOW (widget);

  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), self->address);
  crier_window_add_toast (self, adw_toast_new (_("Address copied to clipboard")));
}

static void
crier_window_show_page_action (GtkWidget  *widget,
                               const char *action_name,
                               GVariant   *parameter)
{
  CrierWindow *self = CRIER_WINDOW (widget);

  adw_view_stack_set_visible_child_name (self->view_stack,
                                         g_variant_get_string (parameter, NULL));
}

static void
crier_window_connect_action (GtkWidget  *widget,
                             const char *action_name,
                             GVariant   *parameter)
{
  gtk_window_present (GTK_WINDOW (crier_connect_dialog_new (GTK_WINDOW (widget))));
}

static void
crier_window_reconnect_action (GtkWidget  *widget,
                               const char *action_name,
                               GVariant   *parameter)
{
  CrierWindow *self = CRIER_WINDOW (widget);

  crier_window_server_address_changed (self, "server-address", self->settings);
}

static void
crier_window_trust_response_cb (CrierWindow      *self,
                                const char       *response,
                                AdwMessageDialog *dialog)
{
  const char *fingerprint = g_object_get_data (G_OBJECT (dialog), "fingerprint");

  if (g_strcmp0 (response, "trust") != 0 || fingerprint == NULL)
    return;

  /* changed::server-certificate-pin reconnects. */
  g_settings_set_string (self->settings, "server-certificate-pin", fingerprint);
  crier_window_add_toast (self, adw_toast_new (_("Certificate trusted")));
}

static void
crier_window_trust_certificate_action (GtkWidget  *widget,
                                       const char *action_name,
                                       GVariant   *parameter)
{
  CrierWindow *self = CRIER_WINDOW (widget);
  GTlsCertificate *certificate = crier_admin_client_get_peer_certificate (self->client);
  g_autofree char *fingerprint = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *body = NULL;
  AdwMessageDialog *dialog;

  if (certificate == NULL || self->trust_dialog != NULL)
    return;

  fingerprint = crier_admin_client_certificate_fingerprint (certificate);
  escaped = g_markup_escape_text (self->address != NULL ? self->address : "", -1);
  /* Translators: %s is host:port, then a SHA-256 fingerprint, both in <tt>. */
  body = g_strdup_printf (_("Anyone between this computer and <tt>%s</tt> could present their "
                            "own certificate. Trust this one only if its fingerprint matches "
                            "the one of crierd’s certificate (<tt>openssl x509 -noout "
                            "-fingerprint -sha256 -in cert.pem</tt>):\n\n<tt>%s</tt>\n\n"
                            "The dashboard will accept this certificate for this server from "
                            "now on."),
                          escaped, fingerprint);

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self),
                                                       _("Trust This Certificate?"), NULL));
  adw_message_dialog_set_body_use_markup (dialog, TRUE);
  adw_message_dialog_set_body (dialog, body);
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "trust", _("_Trust"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "trust", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "fingerprint", g_steal_pointer (&fingerprint), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (crier_window_trust_response_cb),
                           self, G_CONNECT_SWAPPED);
  g_set_weak_pointer (&self->trust_dialog, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
crier_window_broadcast_action (GtkWidget  *widget,
                               const char *action_name,
                               GVariant   *parameter)
{
  CrierWindow *self = CRIER_WINDOW (widget);
  CrierBroadcastDialog *dialog;

  if (self->broadcast_dialog != NULL)
    {
      gtk_window_present (GTK_WINDOW (self->broadcast_dialog));
      return;
    }

  dialog = crier_broadcast_dialog_new (GTK_WINDOW (self), self->client);
  g_set_weak_pointer (&self->broadcast_dialog, dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
crier_window_dispose (GObject *object)
{
  CrierWindow *self = CRIER_WINDOW (object);

  g_clear_handle_id (&self->countdown_id, g_source_remove);
  g_clear_weak_pointer (&self->broadcast_dialog);
  g_clear_weak_pointer (&self->trust_dialog);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  if (self->client != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->client, self);
      crier_admin_client_disconnect (self->client);
    }

  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_WINDOW);

  g_clear_object (&self->client);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (crier_window_parent_class)->dispose (object);
}

static void
crier_window_finalize (GObject *object)
{
  CrierWindow *self = CRIER_WINDOW (object);

  g_clear_pointer (&self->address, g_free);
  g_clear_pointer (&self->address_override, g_free);

  G_OBJECT_CLASS (crier_window_parent_class)->finalize (object);
}

static void
crier_window_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  CrierWindow *self = CRIER_WINDOW (object);

  switch (prop_id)
    {
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
crier_window_class_init (CrierWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = crier_window_dispose;
  object_class->finalize = crier_window_finalize;
  object_class->get_property = crier_window_get_property;

  /**
   * CrierWindow:address:
   *
   * The admin socket path or host:port the dashboard connects to: the
   * server-address setting, or the local default socket when it is empty.
   */
  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/crier-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, not_connected_page);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, connection_spinner);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, connection_icon);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, trust_button);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, overview_page);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, sessions_page);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, channels_page);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, alerts_page);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, nodes_page);

  gtk_widget_class_install_action (widget_class, "win.copy-address", NULL,
                                   crier_window_copy_address_action);
  gtk_widget_class_install_action (widget_class, "win.show-page", "s",
                                   crier_window_show_page_action);
  gtk_widget_class_install_action (widget_class, "win.connect", NULL,
                                   crier_window_connect_action);
  gtk_widget_class_install_action (widget_class, "win.reconnect", NULL,
                                   crier_window_reconnect_action);
  gtk_widget_class_install_action (widget_class, "win.broadcast", NULL,
                                   crier_window_broadcast_action);
  gtk_widget_class_install_action (widget_class, "win.trust-certificate", NULL,
                                   crier_window_trust_certificate_action);

  /* Keep data/ui/help-overlay.ui in step with these. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK,
                                       "win.show-page", "s", "overview");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK,
                                       "win.show-page", "s", "sessions");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_3, GDK_ALT_MASK,
                                       "win.show-page", "s", "channels");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_4, GDK_ALT_MASK,
                                       "win.show-page", "s", "alerts");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_5, GDK_ALT_MASK,
                                       "win.show-page", "s", "nodes");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_b, GDK_CONTROL_MASK,
                                       "win.broadcast", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_l, GDK_CONTROL_MASK,
                                       "win.connect", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK,
                                       "win.reconnect", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK,
                                       "window.close", NULL);
}

static void
crier_window_init (CrierWindow *self)
{
  g_autoptr(GSimpleActionGroup) settings_actions = NULL;
  g_autoptr(GAction) color_scheme = NULL;

  g_type_ensure (CRIER_TYPE_OVERVIEW_PAGE);
  g_type_ensure (CRIER_TYPE_SESSIONS_PAGE);
  g_type_ensure (CRIER_TYPE_CHANNELS_PAGE);
  g_type_ensure (CRIER_TYPE_ALERTS_PAGE);
  g_type_ensure (CRIER_TYPE_NODES_PAGE);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new (APP_ID);

  g_settings_bind (self->settings, "window-width",
                   self, "default-width",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_NO_SENSITIVITY);
  g_settings_bind (self->settings, "window-height",
                   self, "default-height",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_NO_SENSITIVITY);
  g_settings_bind (self->settings, "window-maximized",
                   self, "maximized",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_NO_SENSITIVITY);

  /* settings.* actions for the menu; CrierApplication applies the colour
   * scheme to the style manager. */
  settings_actions = g_simple_action_group_new ();
  color_scheme = g_settings_create_action (self->settings, "color-scheme");
  g_action_map_add_action (G_ACTION_MAP (settings_actions), color_scheme);
  gtk_widget_insert_action_group (GTK_WIDGET (self), "settings",
                                  G_ACTION_GROUP (settings_actions));

  self->client = crier_admin_client_new ();
  crier_overview_page_set_client (self->overview_page, self->client);
  crier_sessions_page_set_client (self->sessions_page, self->client);
  crier_channels_page_set_client (self->channels_page, self->client);
  crier_alerts_page_set_client (self->alerts_page, self->client);
  crier_nodes_page_set_client (self->nodes_page, self->client);
  g_signal_connect_object (self->client, "notify::state",
                           G_CALLBACK (crier_window_client_state_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "notify::node",
                           G_CALLBACK (crier_window_client_state_changed),
                           self, G_CONNECT_SWAPPED);
  self->countdown_id = g_timeout_add_seconds (1, crier_window_countdown_cb, self);

  g_signal_connect_object (self->settings, "changed::server-address",
                           G_CALLBACK (crier_window_server_address_changed),
                           self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::server-tls",
                           G_CALLBACK (crier_window_server_address_changed),
                           self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::server-ca-file",
                           G_CALLBACK (crier_window_server_address_changed),
                           self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::server-certificate-pin",
                           G_CALLBACK (crier_window_server_address_changed),
                           self,
                           G_CONNECT_SWAPPED);
  crier_window_server_address_changed (self, "server-address", self->settings);
}

CrierWindow *
crier_window_new (CrierApplication *application)
{
  g_return_val_if_fail (CRIER_IS_APPLICATION (application), NULL);

  return g_object_new (CRIER_TYPE_WINDOW,
                       "application", application,
                       NULL);
}

const char *
crier_window_get_address (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);

  return self->address;
}

void
crier_window_set_address_override (CrierWindow *self,
                                   const char  *address)
{
  g_return_if_fail (CRIER_IS_WINDOW (self));

  if (g_strcmp0 (self->address_override, address) == 0)
    return;

  g_free (self->address_override);
  self->address_override = g_strdup (address);
  crier_window_server_address_changed (self, "server-address", self->settings);
}

CrierAdminClient *
crier_window_get_client (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->client;
}

CrierOverviewPage *
crier_window_get_overview_page (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->overview_page;
}

CrierSessionsPage *
crier_window_get_sessions_page (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->sessions_page;
}

CrierChannelsPage *
crier_window_get_channels_page (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->channels_page;
}

CrierAlertsPage *
crier_window_get_alerts_page (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->alerts_page;
}

CrierNodesPage *
crier_window_get_nodes_page (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->nodes_page;
}

AdwMessageDialog *
crier_window_get_trust_dialog (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->trust_dialog;
}

CrierBroadcastDialog *
crier_window_get_broadcast_dialog (CrierWindow *self)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), NULL);
  return self->broadcast_dialog;
}

/**
 * crier_window_add_toast:
 * @self: a #CrierWindow
 * @toast: (transfer full): the toast to show
 *
 * Shows @toast over the current view.  Its title is Pango markup on
 * libadwaita 1.2, so escape any text that came from a server.
 */
void
crier_window_add_toast (CrierWindow *self,
                        AdwToast    *toast)
{
  g_return_if_fail (CRIER_IS_WINDOW (self));
  g_return_if_fail (ADW_IS_TOAST (toast));

  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/**
 * crier_window_save_screenshot:
 * @self: a #CrierWindow that has been drawn
 * @path: where to write the PNG
 * @error: return location for a #GError
 *
 * Renders the window with its own renderer, as it looks on screen, and
 * saves it as PNG.  Used by --screenshot for tests and the AppStream
 * screenshots.
 *
 * Returns: %TRUE on success
 */
gboolean
crier_window_save_screenshot (CrierWindow  *self,
                              const char   *path,
                              GError      **error)
{
  g_return_val_if_fail (CRIER_IS_WINDOW (self), FALSE);

  return crier_window_save_native_screenshot (GTK_WIDGET (self), path, error);
}

/**
 * crier_window_save_native_screenshot:
 * @native: a #GtkNative widget (a window) that has been drawn
 * @path: where to write the PNG
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
crier_window_save_native_screenshot (GtkWidget   *native,
                                     const char  *path,
                                     GError     **error)
{
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GtkSnapshot *snapshot;
  GskRenderer *renderer;
  graphene_rect_t bounds;
  int width;
  int height;

  g_return_val_if_fail (GTK_IS_NATIVE (native), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  renderer = gtk_native_get_renderer (GTK_NATIVE (native));
  paintable = gtk_widget_paintable_new (native);
  width = gdk_paintable_get_intrinsic_width (paintable);
  height = gdk_paintable_get_intrinsic_height (paintable);
  if (renderer == NULL || width <= 0 || height <= 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                           "The window has not been drawn yet");
      return FALSE;
    }

  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "The window drew nothing");
      return FALSE;
    }

  graphene_rect_init (&bounds, 0, 0, width, height);
  texture = gsk_renderer_render_texture (renderer, node, &bounds);
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "Could not write %s", path);
      return FALSE;
    }

  return TRUE;
}
