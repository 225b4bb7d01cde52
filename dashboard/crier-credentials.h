/* crier-credentials.h: the admin token for TCP servers, kept in
 * g_get_user_config_dir ()/crier/admin-token with mode 0600 (the directory
 * 0700).  No keyring: the dashboard must run where libsecret does not. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char     *crier_credentials_get_token_path (void);
/* NULL when there is none. */
char     *crier_credentials_load_token     (void);
/* NULL or "" removes the file. */
gboolean  crier_credentials_save_token     (const char  *token,
                                            GError     **error);

G_END_DECLS
