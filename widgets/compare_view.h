#pragma once
// Compare view: the same tensor under up to four specs side by side (histogram of x with each
// spec's levels, same axes) and their metrics in one table (an item model set by the app).

#include "widgets/plot_data.h"

#include <QWidget>

#include <array>

class QAbstractItemModel;
class QComboBox;
class QTableView;

namespace ql {

class PlotWidget;

class CompareView : public QWidget {
    Q_OBJECT
public:
    static constexpr int kSlots = 4;

    explicit CompareView(QWidget* parent = nullptr);
    /// Choices offered in each slot after "(none)" (index 0), and the chosen index per slot.
    void setPresets(const QStringList& names, const std::array<int, kSlots>& chosen);
    std::array<int, kSlots> chosen() const;
    /// Renames choice 1 ("current spec (int4 asym ch)") in every slot.
    void setCurrentSpecName(const QString& name);
    /// The entry shown in a slot, null when the slot is empty.
    const CompareEntry* entryOf(int slot) const;
    void setData(const CompareData& data);
    const CompareData& data() const { return m_data; }
    void clear();
    void setTableModel(QAbstractItemModel* model);
    QComboBox* slotBox(int i) const { return m_boxes[static_cast<std::size_t>(i)]; }
    PlotWidget* plot(int i) const { return m_plots[static_cast<std::size_t>(i)]; }

signals:
    void presetsChosen(const std::array<int, ql::CompareView::kSlots>& chosen);

private:
    /// Rebuilds the plot items now if visible, else on the next show (hidden tabs cost nothing).
    void rebuild();
    void rebuildNow();
    void showEvent(QShowEvent* event) override;
    bool m_dirty = false;

    CompareData m_data;
    std::array<QComboBox*, kSlots> m_boxes{};
    std::array<PlotWidget*, kSlots> m_plots{};
    QTableView* m_table;
};

} // namespace ql
