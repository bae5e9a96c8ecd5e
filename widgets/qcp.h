#pragma once
// Includes QCustomPlot. Its header uses Qt's `foreach` keyword in two inline templates, which our
// QT_NO_FOREACH build disables; a plain range-for stands in for that header only. Include
// QCustomPlot only through this file.

#include <QtGlobal>

#ifndef foreach
#define foreach(decl, container) for (decl : container)
#define QL_QCP_DEFINED_FOREACH
#endif
#include <qcustomplot.h>
#ifdef QL_QCP_DEFINED_FOREACH
#undef foreach
#undef QL_QCP_DEFINED_FOREACH
#endif
