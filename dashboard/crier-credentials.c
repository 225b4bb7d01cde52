/* crier-credentials.c: the admin token file.
 *
 * Key functions:
 *   crier_credentials_save_token ()  0700 directory, 0600 file, written
 *                                    atomically
 */
#include "config.h"

#include "crier-credentials.h"

#include <errno.h>
#include <glib/gstdio.h>

char *
crier_credentials_get_token_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "crier", "admin-token", NULL);
}

char *
crier_credentials_load_token (void)
{
  g_autofree char *path = crier_credentials_get_token_path ();
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;

  g_strstrip (contents);
  if (contents[0] == '\0')
    return NULL;

  return g_steal_pointer (&contents);
}

gboolean
crier_credentials_save_token (const char  *token,
                              GError     **error)
{
  g_autofree char *path = crier_credentials_get_token_path ();
  g_autofree char *dir = g_path_get_dirname (path);

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (token == NULL || token[0] == '\0')
    {
      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          int saved = errno;

          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "Could not remove %s: %s", path, g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "Could not create %s: %s", dir, g_strerror (saved));
      return FALSE;
    }

  return g_file_set_contents_full (path, token, -1,
                                   G_FILE_SET_CONTENTS_CONSISTENT,
                                   0600, error);
}
