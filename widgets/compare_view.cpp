#include "widgets/compare_view.h"

#include "widgets/plot_widget.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHeaderView>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace ql {

CompareView::CompareView(QWidget* parent) : QWidget(parent)
{
    auto* grid = new QGridLayout;
    for (int i = 0; i < kSlots; ++i) {
        auto* box = new QComboBox(this);
        box->setObjectName(QStringLiteral("compareSlot%1").arg(i));
        auto* plot = new PlotWidget(this);
        plot->setMinimumSize(200, 140);
        m_boxes[static_cast<std::size_t>(i)] = box;
        m_plots[static_cast<std::size_t>(i)] = plot;
        auto* cell = new QVBoxLayout;
        cell->addWidget(box);
        cell->addWidget(plot, 1);
        grid->addLayout(cell, i / 2, i % 2);
        connect(box, &QComboBox::activated, this, [this] { emit presetsChosen(chosen()); });
        connect(plot, &PlotWidget::themeChanged, this, [this] { rebuild(); });
        plot->setCsvProvider([this, i] {
            QString out = QStringLiteral("bin_lo,bin_hi,count\n");
            if (const CompareEntry* e = entryOf(i)) {
                const Histogram& h = e->histErr;
                for (int b = 0; b < h.bins(); ++b)
                    out += QStringLiteral("%1,%2,%3\n").arg(h.edge(b), 0, 'g', 9).arg(h.edge(b + 1), 0, 'g', 9).arg(h.counts[static_cast<std::size_t>(b)]);
            }
            return out;
        });
    }
    auto* top = new QWidget(this);
    top->setLayout(grid);
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("compareTable"));
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    // One line per slot, all four in view: the table is what compares the specs.
    m_table->setWordWrap(false);
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
    m_table->setMinimumHeight(m_table->horizontalHeader()->sizeHint().height() +
                              kSlots * m_table->verticalHeader()->defaultSectionSize() + 2 * m_table->frameWidth() + 4);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(m_table);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(2, 2, 2, 2);
    lay->addWidget(split);
    rebuildNow();
}

void CompareView::setPresets(const QStringList& names, const std::array<int, kSlots>& chosen)
{
    for (int i = 0; i < kSlots; ++i) {
        QComboBox* b = m_boxes[static_cast<std::size_t>(i)];
        const QSignalBlocker block(b);
        b->clear();
        b->addItem(tr("(none)"));
        b->addItems(names);
        b->setCurrentIndex(std::clamp(chosen[static_cast<std::size_t>(i)], 0, static_cast<int>(names.size())));
    }
}

std::array<int, CompareView::kSlots> CompareView::chosen() const
{
    std::array<int, kSlots> out{};
    for (int i = 0; i < kSlots; ++i)
        out[static_cast<std::size_t>(i)] = m_boxes[static_cast<std::size_t>(i)]->currentIndex();
    return out;
}

const CompareEntry* CompareView::entryOf(int slot) const
{
    for (std::size_t k = 0; k < m_data.entries.size(); ++k) {
        const CompareEntry& e = m_data.entries[k];
        if (e.slot == slot || (e.slot < 0 && static_cast<int>(k) == slot))
            return &e;
    }
    return nullptr;
}

void CompareView::setCurrentSpecName(const QString& name)
{
    for (QComboBox* b : m_boxes)
        if (b->count() > 1)
            b->setItemText(1, name);
}

void CompareView::setTableModel(QAbstractItemModel* model)
{
    m_table->setModel(model);
    // The first column names the spec: as wide as its names, the numbers share the rest.
    if (model && model->columnCount() > 0)
        m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
}

void CompareView::setData(const CompareData& data)
{
    m_data = data;
    rebuild();
}

void CompareView::clear()
{
    m_data = {};
    rebuild();
}

void CompareView::rebuild()
{
    if (!isVisible()) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    rebuildNow();
}

void CompareView::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (m_dirty) {
        m_dirty = false;
        rebuildNow();
    }
}

void CompareView::rebuildNow()
{
    // Shared axes: the union of the entries' histogram ranges, and the largest count.
    double xlo = 1e300, xhi = -1e300, ymax = 1.0;
    for (const auto& e : m_data.entries) {
        if (e.histX.counts.empty())
            continue;
        xlo = std::min(xlo, e.histX.lo);
        xhi = std::max(xhi, e.histX.hi);
        for (auto c : e.histX.counts)
            ymax = std::max(ymax, double(c));
    }
    if (xlo > xhi) {
        xlo = -1;
        xhi = 1;
    }
    const double pad = (xhi - xlo) * 0.03 + 1e-12;
    for (int i = 0; i < kSlots; ++i) {
        PlotWidget* p = m_plots[static_cast<std::size_t>(i)];
        p->clearPlottables();
        p->clearItems();
        p->applyTheme();
        p->xAxis->setLabel(tr("weight value x"));
        p->yAxis->setLabel(tr("count"));
        if (const CompareEntry* entry = entryOf(i)) {
            const CompareEntry& e = *entry;
            if (!e.error.isEmpty()) {
                auto* t = new QCPItemText(p);
                t->position->setType(QCPItemPosition::ptAxisRectRatio);
                t->position->setCoords(0.5, 0.5);
                t->setColor(p->seriesColor(1));
                // QCPItemText does not wrap: break the message into short lines.
                QString wrapped;
                int col = 0;
                for (const QString& word : e.error.split(QLatin1Char(' '))) {
                    if (col > 0 && col + word.size() > 38) {
                        wrapped += QLatin1Char('\n');
                        col = 0;
                    } else if (col > 0) {
                        wrapped += QLatin1Char(' ');
                        ++col;
                    }
                    wrapped += word;
                    col += int(word.size());
                }
                t->setText(wrapped);
            } else if (!e.histX.counts.empty()) {
                QVector<double> xs, ys;
                for (int b = 0; b < e.histX.bins(); ++b) {
                    const double c = double(e.histX.counts[static_cast<std::size_t>(b)]);
                    xs << e.histX.edge(b) << e.histX.edge(b + 1);
                    ys << c << c;
                }
                QCPGraph* g = p->addGraph();
                g->setPen(QPen(p->seriesColor(0), 1.0));
                QColor f = p->seriesColor(0);
                f.setAlpha(60);
                g->setBrush(f);
                g->setData(xs, ys, true);
                if (!e.levels.empty()) {
                    QVector<double> lx, ly;
                    const std::size_t step = std::max<std::size_t>(1, e.levels.size() / 256);
                    for (std::size_t k = 0; k < e.levels.size(); k += step)
                        lx << e.levels[k] << e.levels[k] << e.levels[k], ly << 0.0 << ymax * 1.08 << qQNaN();
                    QCPGraph* lv = p->addGraph();
                    QColor lc = p->seriesColor(1);
                    lc.setAlpha(140);
                    lv->setPen(QPen(lc, 1.0));
                    lv->setAdaptiveSampling(false);
                    lv->setData(lx, ly, true);
                }
                auto* t = new QCPItemText(p);
                t->position->setType(QCPItemPosition::ptAxisRectRatio);
                t->position->setCoords(0.98, 0.02);
                t->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
                t->setColor(p->textColor());
                t->setText(QStringLiteral("%1\nSQNR %2 · %3 bits/w").arg(e.label, formatDb(e.metrics.sqnrDb))
                               .arg(e.bitsPerWeight, 0, 'f', 2));
            }
        }
        p->setHomeRanges(QCPRange(xlo - pad, xhi + pad), QCPRange(0, ymax * 1.08));
    }
}

} // namespace ql
