/* The config a node instance runs on (sup_config.h). */
#include <stdio.h>
#include <unistd.h>

#include "ipc/attach.h"
#include "sup_config.h"

int sup_config_resolve(struct dwcp_config *cfg, const char *config, const char *instance,
		       struct dwcp_err *err)
{
	char sys[DWCP_PATH_MAX + 64];
	const char *inst = instance ? instance : DWCP_DEFAULT_INSTANCE;
	int rc;

	dwcp_config_defaults(cfg);
	rc = dwcp_config_check_instance(inst, err);
	if (rc)
		return rc;
	snprintf(sys, sizeof(sys), SYSTEM_CONFIG_DIR "/%s.ini", inst);
	if (config)
		rc = dwcp_config_load(cfg, config, err);
	else if (access(sys, F_OK) == 0)
		rc = dwcp_config_load(cfg, sys, err);
	else if (access(DEFAULT_KEY_FILE, F_OK) == 0)
		/* Built-in defaults encrypt when the machine has the default key
		 * (deploy/setup.sh makes it); a config file says so explicitly. */
		snprintf(cfg->key_file, sizeof(cfg->key_file), "%s", DEFAULT_KEY_FILE);
	if (!rc && instance)
		snprintf(cfg->instance, sizeof(cfg->instance), "%s", instance);
	return rc;
}
