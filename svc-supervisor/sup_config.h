/* Which config a node instance runs on, shared by dwcp-supervisor (which
 * starts it) and dwcpctl doctor (which checks what it would start with):
 * --config FILE, else /etc/dwcp/INSTANCE.ini when it exists, else the
 * built-in defaults, which encrypt with /etc/dwcp/dwcp.key when that
 * exists (deploy/setup.sh makes it). */
#ifndef DWCP_SUP_CONFIG_H
#define DWCP_SUP_CONFIG_H

#include "common/config.h"
#include "common/err.h"

#define SYSTEM_CONFIG_DIR "/etc/dwcp"
#define DEFAULT_KEY_FILE SYSTEM_CONFIG_DIR "/dwcp.key"

/** Fill @p cfg for @p instance (NULL: the config's, else the default)
 *  from @p config (may be NULL) as above; the instance name is checked
 *  and overrides the config's. @return 0 or -errno. */
int sup_config_resolve(struct dwcp_config *cfg, const char *config, const char *instance,
		       struct dwcp_err *err);

#endif
