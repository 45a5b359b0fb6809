/*
 * Signed records kept as text files: '#' comment lines and one line
 * "MAGIC BASE64" holding the binary record.  Ring configurations, trust
 * roots, releases and credentials are files of this form, so that they
 * survive mail, chat and copy-paste, and say what they are.
 */
#ifndef CR_ARMOR_H
#define CR_ARMOR_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"

/*
 * Reads the record from text[0..len): at most text_max bytes of text and
 * b64_max characters of base64.  *bin (malloc'ed, the caller's) gets the
 * bytes.  Errors name the file as what ("ring configuration") and the
 * line at fault.
 */
int cr_armor_parse(const char *text, size_t len, const char *magic,
		   const char *what, size_t text_max, size_t b64_max,
		   uint8_t **bin, size_t *bin_len, struct cr_error **err);

#endif
