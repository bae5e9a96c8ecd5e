#pragma once
// Spec editor: every QuantSpec field as an editor widget, filled from the format traits table.
// It emits intent signals only; the app decides what an edit applies to.

#include "core/quant/plan.h"
#include "core/quant/spec.h"

#include <QWidget>

class QButtonGroup;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QRadioButton;
class QSlider;
class QSpinBox;

namespace ql {

class SpecEditor : public QWidget {
    Q_OBJECT
public:
    explicit SpecEditor(QWidget* parent = nullptr);

    /// Shows a spec (no signal is emitted). `shape` sets the axis range and allowed group sizes.
    void setSpec(const QuantSpec& spec);
    QuantSpec spec() const { return m_spec; }
    void setTensorShape(const Shape& shape);
    /// What edits apply to, shown above the form ("q_proj.weight", "default spec (3 tensors)").
    void setScopeText(const QString& text);
    /// Calibration choices ("none", "demo calibration set", file names); index 0 is "none". The
    /// editor appends "Load file…".
    void setCalibrationSources(const QStringList& names, int current);
    /// The sample-count box: `count` of `available` samples in use (available 0: no set, disabled).
    void setCalibrationSamples(int count, int available);
    void setPatternText(const QString& text);

    // The editor widgets, named for tests and accessibility.
    QComboBox* formatCombo() const { return m_format; }
    QSpinBox* bitsSpin() const { return m_bits; }
    QSlider* bitsSlider() const { return m_bitsSlider; }
    QRadioButton* asymmetricRadio() const { return m_asym; }
    QRadioButton* symmetricRadio() const { return m_sym; }
    QCheckBox* fullRangeCheck() const { return m_fullRange; }
    QComboBox* granularityCombo() const { return m_gran; }
    QSpinBox* axisSpin() const { return m_axis; }
    QSpinBox* groupSizeSpin() const { return m_group; }
    QComboBox* rangeCombo() const { return m_range; }
    QDoubleSpinBox* percentileSpin() const { return m_percentile; }
    QComboBox* scaleStorageCombo() const { return m_scaleStorage; }
    QComboBox* calibrationCombo() const { return m_calib; }
    QSpinBox* calibrationSamplesSpin() const { return m_calibSamples; }
    QPushButton* applySelectionButton() const { return m_applySel; }
    QPushButton* applyMatchingButton() const { return m_applyMatch; }
    QPushButton* resetButton() const { return m_reset; }
    QLineEdit* patternEdit() const { return m_pattern; }
    QComboBox* patternKindCombo() const { return m_patternKind; }

signals:
    /// A field was edited by the user; `spec` is the complete new spec.
    void specEdited(const ql::QuantSpec& spec);
    void applyToSelectionRequested(const ql::QuantSpec& spec);
    void applyToMatchingRequested(const ql::QuantSpec& spec, ql::PatternKind kind, const QString& pattern);
    void resetToDefaultRequested();
    /// Index into the calibration sources; the last entry "Load file…" asks for a file.
    void calibrationChosen(int index);
    void loadCalibrationRequested();
    /// The user asked for the first `count` samples of the calibration set.
    void calibrationSamplesChanged(int count);

private:
    void readWidgets();
    void updateEnabled();
    void fillBitsRange();

    QuantSpec m_spec;
    Shape m_shape;
    bool m_updating = false;
    QLabel* m_scope;
    QComboBox* m_format;
    QLabel* m_formatInfo;
    QSpinBox* m_bits;
    QSlider* m_bitsSlider;
    QRadioButton* m_asym;
    QRadioButton* m_sym;
    QCheckBox* m_fullRange;
    QComboBox* m_gran;
    QSpinBox* m_axis;
    QSpinBox* m_group;
    QComboBox* m_range;
    QDoubleSpinBox* m_percentile;
    QComboBox* m_scaleStorage;
    QComboBox* m_calib;
    QSpinBox* m_calibSamples;
    QLineEdit* m_pattern;
    QComboBox* m_patternKind;
    QPushButton* m_applySel;
    QPushButton* m_applyMatch;
    QPushButton* m_reset;
    QLabel* m_bpw;
};

} // namespace ql
