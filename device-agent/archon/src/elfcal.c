/*
 * The ELF side of content-addressed linking (elfcal.h): read with libelf
 * (headers, program headers, the dynamic section, byte order), every
 * offset checked against the file; written by appending one segment.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfcal.h"

#ifndef DF_1_NODEFLIB
#define DF_1_NODEFLIB 0x800
#endif

/* The loader's view of one file, kept while parsing or rewriting. */
struct elfv {
	Elf *elf;
	uint8_t *copy; /* libelf's private copy of the bytes */
	const uint8_t *buf;
	size_t len;
	GElf_Ehdr eh;
	GElf_Phdr ph[AR_ELF_MAX_PHDRS];
	size_t nph;
	GElf_Dyn *dyn; /* PT_DYNAMIC's entries up to DT_NULL */
	size_t ndyn;
	uint64_t stroff, strsz; /* the dynamic string table in the file */
	uint64_t vn_off[AR_ELF_MAX_VERNEED]; /* file offsets of vn_file fields */
	uint32_t vn_name[AR_ELF_MAX_VERNEED];
	size_t nvn;
};

static void elfv_free(struct elfv *v)
{
	if (v->elf != NULL)
		elf_end(v->elf);
	free(v->copy);
	free(v->dyn);
	memset(v, 0, sizeof(*v));
}

static uint32_t rd32(const struct elfv *v, uint64_t off)
{
	const uint8_t *p = v->buf + off;

	if (v->eh.e_ident[EI_DATA] == ELFDATA2MSB)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		       (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | p[0];
}

static uint16_t rd16(const struct elfv *v, uint64_t off)
{
	const uint8_t *p = v->buf + off;

	if (v->eh.e_ident[EI_DATA] == ELFDATA2MSB)
		return (uint16_t)(p[0] << 8 | p[1]);
	return (uint16_t)(p[1] << 8 | p[0]);
}

/* 1 when [off, off+n) lies inside the file. */
static int in_file(const struct elfv *v, uint64_t off, uint64_t n)
{
	return off <= v->len && n <= v->len - off;
}

/* The file offset of address addr (n bytes) through the PT_LOADs. */
static int vaddr_to_off(const struct elfv *v, uint64_t addr, uint64_t n,
			uint64_t *off)
{
	for (size_t i = 0; i < v->nph; i++) {
		const GElf_Phdr *p = &v->ph[i];

		if (p->p_type != PT_LOAD || addr < p->p_vaddr ||
		    addr - p->p_vaddr > p->p_filesz ||
		    n > p->p_filesz - (addr - p->p_vaddr))
			continue;
		*off = p->p_offset + (addr - p->p_vaddr);
		return in_file(v, *off, n) ? 0 : -1;
	}
	return -1;
}

/* The string at offset o of the dynamic string table, or NULL. */
static const char *dynstr(const struct elfv *v, uint64_t o)
{
	const char *s;
	size_t room;

	if (o >= v->strsz)
		return NULL;
	s = (const char *)v->buf + v->stroff + o;
	room = (size_t)(v->strsz - o);
	if (room > AR_ELF_NAME_MAX)
		room = AR_ELF_NAME_MAX;
	return memchr(s, '\0', room) != NULL ? s : NULL;
}

static int bad(struct cr_error **err, const char *what)
{
	return cr_error_set(err, EINVAL, "not a usable ELF file: %s", what);
}

static int dyn_find(const struct elfv *v, int64_t tag, uint64_t *val)
{
	for (size_t i = 0; i < v->ndyn; i++)
		if (v->dyn[i].d_tag == tag) {
			*val = v->dyn[i].d_un.d_val;
			return 1;
		}
	return 0;
}

static int read_verneed(struct elfv *v, struct cr_error **err)
{
	uint64_t addr, num, off;

	if (!dyn_find(v, DT_VERNEED, &addr))
		return 0;
	if (!dyn_find(v, DT_VERNEEDNUM, &num) || num > AR_ELF_MAX_VERNEED)
		return bad(err, "DT_VERNEED without a usable DT_VERNEEDNUM");
	if (vaddr_to_off(v, addr, 16, &off) < 0)
		return bad(err, "DT_VERNEED outside the file");
	for (uint64_t i = 0; i < num; i++) {
		uint32_t next;

		if (!in_file(v, off, 16))
			return bad(err, ".gnu.version_r outside the file");
		if (rd16(v, off) != 1)
			return bad(err, ".gnu.version_r: unknown version");
		v->vn_off[v->nvn] = off + 4;
		v->vn_name[v->nvn] = rd32(v, off + 4);
		if (dynstr(v, v->vn_name[v->nvn]) == NULL)
			return bad(err, ".gnu.version_r: file name outside the string table");
		v->nvn++;
		next = rd32(v, off + 12);
		if (next == 0)
			break;
		if (next < 16)
			return bad(err, ".gnu.version_r: entries overlap");
		off += next;
	}
	return 0;
}

static int read_dynamic(struct elfv *v, const GElf_Phdr *pd,
			struct cr_error **err)
{
	size_t esz = v->eh.e_ident[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Dyn)
							    : sizeof(Elf32_Dyn);
	size_t n = (size_t)(pd->p_filesz / esz);
	Elf_Data *d;
	uint64_t addr, sz;

	if (!in_file(v, pd->p_offset, pd->p_filesz))
		return bad(err, "PT_DYNAMIC outside the file");
	if (n > AR_ELF_MAX_DYN)
		n = AR_ELF_MAX_DYN;
	if (n == 0)
		return 0;
	d = elf_getdata_rawchunk(v->elf, (int64_t)pd->p_offset, n * esz, ELF_T_DYN);
	if (d == NULL)
		return bad(err, elf_errmsg(-1));
	v->dyn = calloc(n, sizeof(*v->dyn));
	if (v->dyn == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		GElf_Dyn g;

		if (esz == sizeof(Elf64_Dyn)) {
			const Elf64_Dyn *x = (const Elf64_Dyn *)d->d_buf + i;

			g.d_tag = x->d_tag;
			g.d_un.d_val = x->d_un.d_val;
		} else {
			const Elf32_Dyn *x = (const Elf32_Dyn *)d->d_buf + i;

			g.d_tag = x->d_tag;
			g.d_un.d_val = x->d_un.d_val;
		}
		if (g.d_tag == DT_NULL)
			break;
		v->dyn[v->ndyn++] = g;
	}
	if (!dyn_find(v, DT_STRTAB, &addr) || !dyn_find(v, DT_STRSZ, &sz))
		return v->ndyn == 0 ? 0 : bad(err, "a dynamic section without a string table");
	if (sz == 0 || vaddr_to_off(v, addr, sz, &v->stroff) < 0)
		return bad(err, "DT_STRTAB outside the file");
	v->strsz = sz;
	return read_verneed(v, err);
}

static int elfv_open(struct elfv *v, const uint8_t *buf, size_t len,
		     struct cr_error **err)
{
	const GElf_Phdr *pd = NULL;
	size_t nph;

	memset(v, 0, sizeof(*v));
	v->buf = buf;
	v->len = len;
	if (len > AR_ELF_MAX_SIZE)
		return bad(err, "larger than 1 GiB");
	if (len < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return bad(err, "no ELF magic");
	if (elf_version(EV_CURRENT) == EV_NONE)
		return cr_error_set(err, EIO, "libelf: %s", elf_errmsg(-1));
	/* libelf may convert a foreign byte order in place: its own copy. */
	v->copy = malloc(len);
	if (v->copy == NULL)
		return cr_error_set(err, ENOMEM, "out of memory");
	memcpy(v->copy, buf, len);
	v->elf = elf_memory((char *)v->copy, len);
	if (v->elf == NULL || elf_kind(v->elf) != ELF_K_ELF ||
	    gelf_getehdr(v->elf, &v->eh) == NULL)
		return bad(err, elf_errmsg(-1));
	if (v->eh.e_type != ET_EXEC && v->eh.e_type != ET_DYN)
		return bad(err, "neither an executable nor a shared object");
	if (elf_getphdrnum(v->elf, &nph) != 0 || nph == 0 || nph > AR_ELF_MAX_PHDRS)
		return bad(err, "no usable program headers");
	for (size_t i = 0; i < nph; i++) {
		if (gelf_getphdr(v->elf, (int)i, &v->ph[i]) == NULL)
			return bad(err, elf_errmsg(-1));
		if (v->ph[i].p_filesz > v->ph[i].p_memsz && v->ph[i].p_type == PT_LOAD)
			return bad(err, "a PT_LOAD larger in the file than in memory");
		if (v->ph[i].p_type == PT_DYNAMIC && pd == NULL)
			pd = &v->ph[i];
	}
	v->nph = nph;
	return pd != NULL ? read_dynamic(v, pd, err) : 0;
}

static int dup_str(const char *s, char **out, struct cr_error **err)
{
	*out = strdup(s);
	return *out == NULL ? cr_error_set(err, ENOMEM, "out of memory") : 0;
}

/* The glibc banner: "ld.so (X) stable release version V." in ld.so and
 * "GNU C Library (X) stable release version V." in libc.so.6; the part from
 * "(" names the build. */
static char *glibc_build(const uint8_t *buf, size_t len)
{
	static const char key[] = ") stable release version ";
	const uint8_t *p = buf, *end = buf + len;

	while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
		const uint8_t *b = p, *e = p + sizeof(key) - 1;

		while (b > buf && p - b < 128 && b[-1] != '(' && b[-1] >= 0x20)
			b--;
		while (e < end && e - p < 160 && *e >= 0x20 && *e < 0x7f)
			e++;
		if (b > buf && b[-1] == '(') {
			const uint8_t *s = b - 1;

			return strndup((const char *)s, (size_t)(e - s));
		}
		p += sizeof(key) - 1;
	}
	return NULL;
}

int ar_elf_parse(const uint8_t *buf, size_t len, struct ar_elf *out,
		 struct cr_error **err)
{
	struct elfv v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (elfv_open(&v, buf, len, err) < 0)
		goto done;
	out->eclass = v.eh.e_ident[EI_CLASS];
	out->edata = v.eh.e_ident[EI_DATA];
	out->machine = v.eh.e_machine;
	out->etype = v.eh.e_type;
	out->has_dynamic = v.ndyn > 0;
	for (size_t i = 0; i < v.nph; i++) {
		const GElf_Phdr *p = &v.ph[i];

		if (p->p_type != PT_INTERP || out->interp != NULL)
			continue;
		if (!in_file(&v, p->p_offset, p->p_filesz) || p->p_filesz < 2 ||
		    p->p_filesz > AR_ELF_NAME_MAX ||
		    memchr(buf + p->p_offset, '\0', p->p_filesz) == NULL) {
			bad(err, "PT_INTERP is not a string inside the file");
			goto done;
		}
		if (dup_str((const char *)buf + p->p_offset, &out->interp, err) < 0)
			goto done;
	}
	for (size_t i = 0; i < v.ndyn; i++) {
		const GElf_Dyn *d = &v.dyn[i];
		const char *s;
		char **slot = NULL;

		if (d->d_tag != DT_NEEDED && d->d_tag != DT_SONAME &&
		    d->d_tag != DT_RPATH && d->d_tag != DT_RUNPATH)
			continue;
		s = dynstr(&v, d->d_un.d_val);
		if (s == NULL || s[0] == '\0') {
			bad(err, "a dynamic entry names a string outside the string table");
			goto done;
		}
		if (d->d_tag == DT_NEEDED) {
			char **nn;

			if (out->nneeded >= AR_ELF_MAX_NEEDED) {
				bad(err, "too many DT_NEEDED entries");
				goto done;
			}
			nn = realloc(out->needed, (out->nneeded + 1) * sizeof(*nn));
			if (nn == NULL) {
				cr_error_set(err, ENOMEM, "out of memory");
				goto done;
			}
			out->needed = nn;
			slot = &nn[out->nneeded++];
			*slot = NULL;
		} else if (d->d_tag == DT_SONAME && out->soname == NULL)
			slot = &out->soname;
		else if (d->d_tag == DT_RPATH && out->rpath == NULL)
			slot = &out->rpath;
		else if (d->d_tag == DT_RUNPATH && out->runpath == NULL)
			slot = &out->runpath;
		if (slot != NULL && dup_str(s, slot, err) < 0)
			goto done;
	}
	out->glibc_build = glibc_build(buf, len);
	rc = 0;
done:
	elfv_free(&v);
	if (rc < 0)
		ar_elf_clear(out);
	return rc;
}

void ar_elf_clear(struct ar_elf *e)
{
	for (size_t i = 0; i < e->nneeded; i++)
		free(e->needed[i]);
	free(e->needed);
	free(e->interp);
	free(e->soname);
	free(e->rpath);
	free(e->runpath);
	free(e->glibc_build);
	memset(e, 0, sizeof(*e));
}

const char *ar_elf_machine_name(unsigned machine, char *buf, size_t cap)
{
	switch (machine) {
	case EM_X86_64: return "x86_64";
	case EM_386: return "i386";
	case EM_AARCH64: return "aarch64";
	case EM_ARM: return "arm";
	case EM_MIPS: return "mips";
	case EM_RISCV: return "riscv";
	case EM_PPC64: return "ppc64";
	default:
		snprintf(buf, cap, "em-%u", machine);
		return buf;
	}
}

/* Writes one structure in the file's class and byte order at dst. */
static int put(Elf *elf, Elf_Type type, const void *mem, size_t size,
	       uint8_t *dst, unsigned edata)
{
	Elf_Data src = { .d_buf = (void *)mem, .d_type = type, .d_size = size,
			 .d_version = EV_CURRENT };
	Elf_Data to = { .d_buf = dst, .d_size = size, .d_version = EV_CURRENT };

	return gelf_xlatetof(elf, &to, &src, edata) == NULL ? -1 : 0;
}

static int put_phdr(struct elfv *v, const GElf_Phdr *g, uint8_t *dst)
{
	unsigned ed = v->eh.e_ident[EI_DATA];

	if (v->eh.e_ident[EI_CLASS] == ELFCLASS64) {
		Elf64_Phdr p = { g->p_type, g->p_flags, g->p_offset, g->p_vaddr,
				 g->p_paddr, g->p_filesz, g->p_memsz, g->p_align };

		return put(v->elf, ELF_T_PHDR, &p, sizeof(p), dst, ed);
	}
	Elf32_Phdr p = { .p_type = g->p_type, .p_offset = (Elf32_Off)g->p_offset,
			 .p_vaddr = (Elf32_Addr)g->p_vaddr,
			 .p_paddr = (Elf32_Addr)g->p_paddr,
			 .p_filesz = (Elf32_Word)g->p_filesz,
			 .p_memsz = (Elf32_Word)g->p_memsz,
			 .p_flags = g->p_flags, .p_align = (Elf32_Word)g->p_align };

	return put(v->elf, ELF_T_PHDR, &p, sizeof(p), dst, ed);
}

static int put_dyn(struct elfv *v, const GElf_Dyn *g, uint8_t *dst)
{
	unsigned ed = v->eh.e_ident[EI_DATA];

	if (v->eh.e_ident[EI_CLASS] == ELFCLASS64) {
		Elf64_Dyn d = { .d_tag = g->d_tag, .d_un.d_val = g->d_un.d_val };

		return put(v->elf, ELF_T_DYN, &d, sizeof(d), dst, ed);
	}
	Elf32_Dyn d = { .d_tag = (Elf32_Sword)g->d_tag,
			.d_un.d_val = (Elf32_Word)g->d_un.d_val };

	return put(v->elf, ELF_T_DYN, &d, sizeof(d), dst, ed);
}

/* e_phoff and e_phnum of the ELF header, in place. */
static int put_ehdr(struct elfv *v, uint64_t phoff, uint16_t phnum, uint8_t *out)
{
	unsigned ed = v->eh.e_ident[EI_DATA];

	if (v->eh.e_ident[EI_CLASS] == ELFCLASS64) {
		Elf64_Off o = phoff;

		return put(v->elf, ELF_T_OFF, &o, sizeof(o), out + 32, ed) < 0 ||
		       put(v->elf, ELF_T_HALF, &phnum, 2, out + 56, ed) < 0 ? -1 : 0;
	}
	Elf32_Off o = (Elf32_Off)phoff;

	return put(v->elf, ELF_T_OFF, &o, sizeof(o), out + 28, ed) < 0 ||
	       put(v->elf, ELF_T_HALF, &phnum, 2, out + 44, ed) < 0 ? -1 : 0;
}

/* Sets the value of .symtab's _DYNAMIC (which debuggers and elflint
 * compare with PT_DYNAMIC) to the new dynamic section's address. */
static void update_dynamic_symbol(struct elfv *v, Elf_Scn *scn,
				  const GElf_Shdr *sh, uint8_t *out,
				  uint64_t addr)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n, esz = v->eh.e_ident[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Sym)
							       : sizeof(Elf32_Sym);

	if (d == NULL || sh->sh_entsize != esz || !in_file(v, sh->sh_offset, sh->sh_size))
		return;
	n = (size_t)(sh->sh_size / esz);
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		uint8_t *at = out + sh->sh_offset + i * esz;

		if (gelf_getsym(d, (int)i, &sym) == NULL)
			return;
		name = elf_strptr(v->elf, sh->sh_link, sym.st_name);
		if (name == NULL || strcmp(name, "_DYNAMIC") != 0)
			continue;
		sym.st_value = addr;
		if (esz == sizeof(Elf64_Sym)) {
			Elf64_Sym x = { (Elf64_Word)sym.st_name, sym.st_info, sym.st_other,
					sym.st_shndx, sym.st_value, sym.st_size };

			put(v->elf, ELF_T_SYM, &x, sizeof(x), at, v->eh.e_ident[EI_DATA]);
		} else {
			Elf32_Sym x = { (Elf32_Word)sym.st_name, (Elf32_Addr)sym.st_value,
					(Elf32_Word)sym.st_size, sym.st_info, sym.st_other,
					sym.st_shndx };

			put(v->elf, ELF_T_SYM, &x, sizeof(x), at, v->eh.e_ident[EI_DATA]);
		}
	}
}

/* Points the section headers of .interp, .dynstr and .dynamic (when the
 * file has section headers) at their new places, so tools that read
 * sections see what the loader sees. */
static void update_sections(struct elfv *v, uint8_t *out, uint64_t old_str,
			    const GElf_Phdr *interp, uint64_t str_off,
			    uint64_t str_addr, uint64_t str_sz,
			    const GElf_Phdr *dyn)
{
	size_t shstrndx, idx = 0;
	Elf_Scn *scn = NULL;
	size_t shsz = v->eh.e_ident[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Shdr)
							     : sizeof(Elf32_Shdr);
	unsigned ed = v->eh.e_ident[EI_DATA];

	if (elf_getshdrstrndx(v->elf, &shstrndx) != 0)
		return;
	while ((scn = elf_nextscn(v->elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		uint64_t at;

		idx = elf_ndxscn(scn);
		if (gelf_getshdr(scn, &sh) == NULL)
			return;
		name = elf_strptr(v->elf, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_SYMTAB) {
			update_dynamic_symbol(v, scn, &sh, out, dyn->p_vaddr);
			continue;
		}
		if (sh.sh_type == SHT_PROGBITS && interp != NULL && name != NULL &&
		    strcmp(name, ".interp") == 0) {
			sh.sh_offset = interp->p_offset;
			sh.sh_addr = interp->p_vaddr;
			sh.sh_size = interp->p_filesz;
		} else if (sh.sh_type == SHT_STRTAB && sh.sh_addr == old_str &&
			   sh.sh_flags & SHF_ALLOC) {
			sh.sh_offset = str_off;
			sh.sh_addr = str_addr;
			sh.sh_size = str_sz;
		} else if (sh.sh_type == SHT_DYNAMIC) {
			sh.sh_offset = dyn->p_offset;
			sh.sh_addr = dyn->p_vaddr;
			sh.sh_size = dyn->p_filesz;
		} else {
			continue;
		}
		at = v->eh.e_shoff + idx * shsz;
		if (v->eh.e_shentsize != shsz || !in_file(v, at, shsz))
			return;
		if (shsz == sizeof(Elf64_Shdr)) {
			Elf64_Shdr s = { sh.sh_name, sh.sh_type, sh.sh_flags, sh.sh_addr,
					 sh.sh_offset, sh.sh_size, sh.sh_link, sh.sh_info,
					 sh.sh_addralign, sh.sh_entsize };

			put(v->elf, ELF_T_SHDR, &s, sizeof(s), out + at, ed);
		} else {
			Elf32_Shdr s = { (Elf32_Word)sh.sh_name, (Elf32_Word)sh.sh_type,
					 (Elf32_Word)sh.sh_flags, (Elf32_Addr)sh.sh_addr,
					 (Elf32_Off)sh.sh_offset, (Elf32_Word)sh.sh_size,
					 (Elf32_Word)sh.sh_link, (Elf32_Word)sh.sh_info,
					 (Elf32_Word)sh.sh_addralign,
					 (Elf32_Word)sh.sh_entsize };

			put(v->elf, ELF_T_SHDR, &s, sizeof(s), out + at, ed);
		}
	}
}

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

int ar_elf_rewrite(const uint8_t *buf, size_t len, const char *interp,
		   char *const *needed, size_t n, const char *runpath,
		   char *const *from, char *const *to, size_t nmap,
		   uint8_t **out, size_t *outlen, struct cr_error **err)
{
	struct elfv v;
	GElf_Phdr nph[AR_ELF_MAX_PHDRS + 1];
	GElf_Dyn *nd = NULL;
	uint64_t *needed_at = NULL, *to_at = NULL;
	uint64_t delta = 0, end = 0, align = 4096, X, off, interp_at = 0;
	uint64_t str_at, str_sz, dyn_at, seg_sz, runpath_at = 0, old_str = 0;
	size_t nnd = 0, k = 0, rld_rel = SIZE_MAX, phsz, dsz, wsz, last_load = 0;
	size_t first_load = SIZE_MAX;
	int have_flags1 = 0, rc = -1;
	uint8_t *o = NULL;
	GElf_Phdr *pinterp = NULL, *pdyn = NULL;

	*out = NULL;
	if (elfv_open(&v, buf, len, err) < 0)
		goto done;
	if (v.ndyn == 0) {
		bad(err, "no dynamic section to rewrite");
		goto done;
	}
	if (v.eh.e_phnum >= PN_XNUM - 1) {
		bad(err, "too many program headers");
		goto done;
	}
	phsz = v.eh.e_ident[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Phdr)
						     : sizeof(Elf32_Phdr);
	dsz = v.eh.e_ident[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Dyn)
						    : sizeof(Elf32_Dyn);
	wsz = v.eh.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	if (v.eh.e_phentsize != phsz) {
		bad(err, "unexpected program header size");
		goto done;
	}
	for (size_t i = 0; i < v.nph; i++) {
		const GElf_Phdr *p = &v.ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (first_load == SIZE_MAX)
			first_load = i;
		last_load = i;
		if (p->p_align > align)
			align = p->p_align;
		if (p->p_vaddr + p->p_memsz < p->p_vaddr) {
			bad(err, "a PT_LOAD wraps around");
			goto done;
		}
		if (p->p_vaddr + p->p_memsz > end)
			end = p->p_vaddr + p->p_memsz;
	}
	if (first_load == SIZE_MAX || align > AR_ELF_MAX_ALIGN ||
	    (align & (align - 1)) != 0) {
		bad(err, "no PT_LOAD, or an alignment over 2 MiB or not a power of two");
		goto done;
	}
	/* The new segment's address minus its offset is the first
	 * PT_LOAD's: then load address + e_phoff is the new table's address,
	 * whichever rule the kernel (or qemu-user) uses for AT_PHDR. */
	if (v.ph[first_load].p_vaddr < v.ph[first_load].p_offset) {
		bad(err, "the first PT_LOAD's address is below its offset");
		goto done;
	}
	delta = v.ph[first_load].p_vaddr - v.ph[first_load].p_offset;
	X = round_up(len > end - delta ? len : end - delta, align);
	if (X > AR_ELF_MAX_SIZE || (v.eh.e_ident[EI_CLASS] == ELFCLASS32 &&
				    X + delta > UINT32_MAX / 2)) {
		bad(err, "no room for a new segment");
		goto done;
	}

	/* Layout of the new segment: header table, interpreter, strings,
	 * dynamic section. */
	off = X + (v.nph + 1) * phsz;
	if (interp != NULL) {
		interp_at = off;
		off += strlen(interp) + 1;
	}
	str_at = off;
	str_sz = v.strsz;
	needed_at = calloc(n + 1, sizeof(*needed_at));
	to_at = calloc(nmap + 1, sizeof(*to_at));
	nd = calloc(v.ndyn + n + 3, sizeof(*nd));
	if (needed_at == NULL || to_at == NULL || nd == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		needed_at[i] = str_sz;
		str_sz += strlen(needed[i]) + 1;
	}
	for (size_t i = 0; i < nmap; i++) {
		to_at[i] = UINT64_MAX;
		for (size_t j = 0; j < n; j++)
			if (strcmp(to[i], needed[j]) == 0)
				to_at[i] = needed_at[j];
		if (to_at[i] == UINT64_MAX) {
			to_at[i] = str_sz;
			str_sz += strlen(to[i]) + 1;
		}
	}
	if (runpath != NULL) {
		runpath_at = str_sz;
		str_sz += strlen(runpath) + 1;
	}
	for (size_t i = 0; i < n; i++)
		nd[nnd++] = (GElf_Dyn){ .d_tag = DT_NEEDED, .d_un.d_val = needed_at[i] };
	if (runpath != NULL)
		nd[nnd++] = (GElf_Dyn){ .d_tag = DT_RUNPATH, .d_un.d_val = runpath_at };
	for (size_t i = 0; i < v.ndyn; i++) {
		GElf_Dyn d = v.dyn[i];

		if (d.d_tag == DT_NEEDED || d.d_tag == DT_RPATH || d.d_tag == DT_RUNPATH)
			continue;
		if (d.d_tag == DT_MIPS_RLD_MAP_REL && v.eh.e_machine == EM_MIPS)
			rld_rel = nnd; /* relative to its own address: fixed below */
		if (d.d_tag == DT_STRTAB)
			d.d_un.d_ptr = str_at + delta;
		else if (d.d_tag == DT_STRSZ)
			d.d_un.d_val = str_sz;
		else if (d.d_tag == DT_FLAGS_1) {
			d.d_un.d_val |= DF_1_NODEFLIB;
			have_flags1 = 1;
		}
		nd[nnd++] = d;
	}
	if (!have_flags1)
		nd[nnd++] = (GElf_Dyn){ .d_tag = DT_FLAGS_1, .d_un.d_val = DF_1_NODEFLIB };
	nd[nnd++] = (GElf_Dyn){ .d_tag = DT_NULL };
	dyn_at = round_up(str_at + str_sz, wsz);
	seg_sz = dyn_at + nnd * dsz - X;
	if (rld_rel != SIZE_MAX) {
		/* MIPS: the value is the distance from the entry to the loader's
		 * debug pointer; the entry moved, the pointer did not. */
		uint64_t old_at = 0;
		const GElf_Phdr *od = NULL;

		for (size_t i = 0; i < v.nph; i++)
			if (v.ph[i].p_type == PT_DYNAMIC && od == NULL)
				od = &v.ph[i];
		for (size_t i = 0; i < v.ndyn; i++)
			if (v.dyn[i].d_tag == DT_MIPS_RLD_MAP_REL)
				old_at = od->p_vaddr + i * dsz;
		nd[rld_rel].d_un.d_val = nd[rld_rel].d_un.d_val + old_at -
					 (dyn_at + delta + rld_rel * dsz);
	}

	/* The new program header table: the old one with PT_PHDR, PT_INTERP
	 * and PT_DYNAMIC moved, and the new PT_LOAD after the last one. */
	for (size_t i = 0; i < v.nph; i++) {
		GElf_Phdr p = v.ph[i];

		if (p.p_type == PT_PHDR) {
			p.p_offset = X;
			p.p_vaddr = p.p_paddr = X + delta;
			p.p_filesz = p.p_memsz = (v.nph + 1) * phsz;
		} else if (p.p_type == PT_INTERP && interp != NULL) {
			p.p_offset = interp_at;
			p.p_vaddr = p.p_paddr = interp_at + delta;
			p.p_filesz = p.p_memsz = strlen(interp) + 1;
		} else if (p.p_type == PT_DYNAMIC) {
			p.p_offset = dyn_at;
			p.p_vaddr = p.p_paddr = dyn_at + delta;
			p.p_filesz = p.p_memsz = nnd * dsz;
		}
		nph[k++] = p;
		if (i == last_load)
			nph[k++] = (GElf_Phdr){ .p_type = PT_LOAD,
						.p_flags = PF_R | PF_W,
						.p_offset = X,
						.p_vaddr = X + delta,
						.p_paddr = X + delta,
						.p_filesz = seg_sz,
						.p_memsz = seg_sz,
						.p_align = align };
	}
	for (size_t i = 0; i < k; i++) {
		if (nph[i].p_type == PT_INTERP)
			pinterp = &nph[i];
		else if (nph[i].p_type == PT_DYNAMIC && pdyn == NULL)
			pdyn = &nph[i];
	}

	o = calloc(1, X + seg_sz);
	if (o == NULL) {
		cr_error_set(err, ENOMEM, "out of memory");
		goto done;
	}
	memcpy(o, buf, len);
	for (size_t i = 0; i < k; i++)
		if (put_phdr(&v, &nph[i], o + X + i * phsz) < 0)
			goto xlate;
	if (interp != NULL)
		memcpy(o + interp_at, interp, strlen(interp) + 1);
	memcpy(o + str_at, buf + v.stroff, v.strsz);
	for (size_t i = 0; i < n; i++)
		memcpy(o + str_at + needed_at[i], needed[i], strlen(needed[i]) + 1);
	for (size_t i = 0; i < nmap; i++)
		if (to_at[i] >= v.strsz)
			memcpy(o + str_at + to_at[i], to[i], strlen(to[i]) + 1);
	if (runpath != NULL)
		memcpy(o + str_at + runpath_at, runpath, strlen(runpath) + 1);
	for (size_t i = 0; i < nnd; i++)
		if (put_dyn(&v, &nd[i], o + dyn_at + i * dsz) < 0)
			goto xlate;
	/* .gnu.version_r names the files by the DT_NEEDED strings: rename
	 * each to its new path (glibc asserts otherwise). */
	for (size_t i = 0; i < v.nvn; i++) {
		const char *name = dynstr(&v, v.vn_name[i]);
		size_t j;

		for (j = 0; j < nmap; j++)
			if (strcmp(name, from[j]) == 0)
				break;
		if (j == nmap) {
			cr_error_set(err, EINVAL,
				     ".gnu.version_r names %s, which is not a needed library",
				     name);
			goto done;
		}
		uint32_t w = (uint32_t)to_at[j];

		if (put(v.elf, ELF_T_WORD, &w, 4, o + v.vn_off[i],
			v.eh.e_ident[EI_DATA]) < 0)
			goto xlate;
	}
	if (put_ehdr(&v, X, (uint16_t)k, o) < 0)
		goto xlate;
	dyn_find(&v, DT_STRTAB, &old_str);
	update_sections(&v, o, old_str, pinterp, str_at, str_at + delta, str_sz,
			pdyn);
	*out = o;
	*outlen = X + seg_sz;
	o = NULL;
	rc = 0;
	goto done;
xlate:
	cr_error_set(err, EIO, "libelf: %s", elf_errmsg(-1));
done:
	free(o);
	free(nd);
	free(needed_at);
	free(to_at);
	elfv_free(&v);
	return rc;
}
