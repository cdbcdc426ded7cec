#include "CStoreLoad.h"
