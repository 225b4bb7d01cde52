/* crier-types.h: forward declarations shared by the server's units. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _CrierConn         CrierConn;
typedef struct _CrierConnClass    CrierConnClass;
typedef struct _CrierEngine       CrierEngine;
typedef struct _CrierListener     CrierListener;
typedef struct _CrierTimerWheel   CrierTimerWheel;
typedef struct _CrierTimerNode    CrierTimerNode;
typedef struct _CrierWs           CrierWs;
typedef struct _CrierServer       CrierServer;

G_END_DECLS
