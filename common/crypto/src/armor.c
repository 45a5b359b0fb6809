/* Signed records as text files (cr/armor.h). */
#include "cr/armor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cr/cleanup.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int cr_armor_parse(const char *text, size_t len, const char *magic,
		   const char *what, size_t text_max, size_t b64_max,
		   uint8_t **bin, size_t *bin_len, struct cr_error **err)
{
	CR_CLEANUP_FREE uint8_t *b = NULL;
	const char *b64 = NULL, *end;
	size_t b64_len = 0, line_no = 0, found = 0, off = 0;
	size_t ml = strlen(magic);

	if (text == NULL || len == 0)
		return cr_error_set(err, EBADMSG, "%s file is empty", what);
	if (len > text_max)
		return cr_error_set(err, EMSGSIZE,
				    "%s file is %zu bytes, more than the limit "
				    "of %zu",
				    what, len, text_max);
	if (memchr(text, '\0', len) != NULL)
		return cr_error_set(err, EBADMSG,
				    "%s file contains a NUL byte; it is not a "
				    "text file",
				    what);
	while (off < len) {
		const char *line = text + off, *nl;
		size_t l;

		nl = memchr(line, '\n', len - off);
		l = nl != NULL ? (size_t)(nl - line) : len - off;
		off += l + (nl != NULL);
		line_no++;
		while (l > 0 && is_blank(*line)) {
			line++;
			l--;
		}
		while (l > 0 && is_blank(line[l - 1]))
			l--;
		if (l == 0 || line[0] == '#')
			continue;
		if (l <= ml || memcmp(line, magic, ml) != 0 ||
		    !is_blank(line[ml]))
			return cr_error_set(err, EBADMSG,
					    "%s file line %zu: expected '%s "
					    "BASE64' or a '#' comment",
					    what, line_no, magic);
		if (b64 != NULL)
			return cr_error_set(err, EBADMSG,
					    "%s file lines %zu and %zu both "
					    "hold a record; keep one",
					    what, found, line_no);
		line += ml;
		l -= ml;
		while (l > 0 && is_blank(*line)) {
			line++;
			l--;
		}
		b64 = line;
		b64_len = l;
		found = line_no;
	}
	if (b64 == NULL)
		return cr_error_set(err, EBADMSG,
				    "no '%s' line found; is this a %s file?",
				    magic, what);
	if (b64_len > b64_max)
		return cr_error_set(err, EMSGSIZE,
				    "%s file line %zu is longer than the limit "
				    "of %zu characters",
				    what, found, b64_max);
	b = malloc(b64_len / 4 * 3 + 3);
	if (b == NULL)
		return cr_error_errno(err, ENOMEM, "decoding the %s", what);
	if (sodium_base642bin(b, b64_len / 4 * 3 + 3, b64, b64_len, NULL,
			      bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64 + b64_len)
		return cr_error_set(err, EBADMSG,
				    "%s file line %zu is not valid base64; "
				    "copy the file again",
				    what, found);
	*bin = CR_TAKE(&b);
	return 0;
}

