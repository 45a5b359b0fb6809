/* The wire helpers are inline (cp/wire.h); this unit keeps the library
 * non-empty and checks the header compiles on its own. */
#include "cp/wire.h"
