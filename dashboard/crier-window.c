/* crier-window.c: the dashboard's main window.
 *
 * Key functions:
 *   crier_window_init ()                    template, GSettings bindings (size,
 *                                           maximized), the settings.* actions
 *   crier_window_server_address_changed ()  recomputes the address and the
 *                                           "Not Connected" description
 *   crier_window_save_screenshot ()         renders the window to a PNG
 */
#include "config.h"

#include "crier-window.h"

#include <glib/gi18n.h>

struct _CrierWindow
{
  AdwApplicationWindow  parent_instance;

  GSettings            *settings;
  char                 *address;  /* what the admin client will connect to */

  /* Template children */
  AdwToastOverlay      *toast_overlay;
  AdwViewStack         *view_stack;
  AdwStatusPage        *not_connected_page;
};

G_DEFINE_FINAL_TYPE (CrierWindow, crier_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_ADDRESS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
crier_window_server_address_changed (CrierWindow *self,
                                     const char  *key,
                                     GSettings   *settings)
{
  g_autofree char *address = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *monospace = NULL;
  g_autofree char *description = NULL;

  address = g_settings_get_string (settings, "server-address");
  g_strstrip (address);
  if (address[0] == '\0')
    {
      g_free (address);
      address = crier_application_dup_default_socket_path ();
    }

  /* The description is markup. */
  escaped = g_markup_escape_text (address, -1);
  monospace = g_strdup_printf ("<tt>%s</tt>", escaped);
  if (g_path_is_absolute (address))
    /* Translators: %s is the path of a Unix socket, such as /run/crier/admin.sock. */
    description = g_strdup_printf (_("The dashboard is not connected to a Crier server yet. "
                                     "It will connect to the admin socket at %s."),
                                   monospace);
  else
    /* Translators: %s is a host and port, such as crier.example.com:8001. */
    description = g_strdup_printf (_("The dashboard is not connected to a Crier server yet. "
                                     "It will connect to the admin endpoint at %s."),
                                   monospace);
  adw_status_page_set_description (self->not_connected_page, description);

  if (g_strcmp0 (self->address, address) != 0)
    {
      g_free (self->address);
      self->address = g_steal_pointer (&address);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ADDRESS]);
    }
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
crier_window_dispose (GObject *object)
{
  CrierWindow *self = CRIER_WINDOW (object);

  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);

  gtk_widget_dispose_template (GTK_WIDGET (self), CRIER_TYPE_WINDOW);

  g_clear_object (&self->settings);

  G_OBJECT_CLASS (crier_window_parent_class)->dispose (object);
}

static void
crier_window_finalize (GObject *object)
{
  CrierWindow *self = CRIER_WINDOW (object);

  g_clear_pointer (&self->address, g_free);

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
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, CrierWindow, not_connected_page);

  gtk_widget_class_install_action (widget_class, "win.copy-address", NULL,
                                   crier_window_copy_address_action);
  gtk_widget_class_install_action (widget_class, "win.show-page", "s",
                                   crier_window_show_page_action);

  /* Keep data/ui/help-overlay.ui in step with these. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK,
                                       "win.show-page", "s", "overview");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK,
                                       "win.show-page", "s", "sessions");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_3, GDK_ALT_MASK,
                                       "win.show-page", "s", "channels");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_4, GDK_ALT_MASK,
                                       "win.show-page", "s", "alerts");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK,
                                       "window.close", NULL);
}

static void
crier_window_init (CrierWindow *self)
{
  g_autoptr(GSimpleActionGroup) settings_actions = NULL;
  g_autoptr(GAction) color_scheme = NULL;

  /* The template uses only GTK and libadwaita types so far; g_type_ensure ()
   * each Crier widget here once the template uses one. */
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

  g_signal_connect_object (self->settings, "changed::server-address",
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
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GtkSnapshot *snapshot;
  GskRenderer *renderer;
  graphene_rect_t bounds;
  int width;
  int height;

  g_return_val_if_fail (CRIER_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  renderer = gtk_native_get_renderer (GTK_NATIVE (self));
  paintable = gtk_widget_paintable_new (GTK_WIDGET (self));
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
