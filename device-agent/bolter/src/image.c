/* Docker-like verbs on Archon: see bo/image.h. */
#include "bo/image.h"

int bo_image_command(const char *root, const char *cmd, int argc, char **argv)
{
	(void)root;
	(void)cmd;
	(void)argc;
	(void)argv;
	return BO_IMAGE_NOT_MINE;
}
