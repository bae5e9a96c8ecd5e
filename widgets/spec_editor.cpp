#include "widgets/spec_editor.h"

#include "core/quant/format_traits.h"
#include "core/quant/quantize.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <cmath>

namespace ql {

namespace {
QString qs(std::string_view s)
{
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}
} // namespace

SpecEditor::SpecEditor(QWidget* parent) : QWidget(parent)
{
    m_scope = new QLabel(this);
    m_scope->setObjectName(QStringLiteral("scope"));
    m_scope->setWordWrap(true);
    QFont bold = m_scope->font();
    bold.setBold(true);
    m_scope->setFont(bold);

    m_format = new QComboBox(this);
    m_format->setObjectName(QStringLiteral("format"));
    for (const FormatTraits& t : allFormats()) {
        m_format->addItem(qs(t.displayName), static_cast<int>(t.format));
        m_format->setItemData(m_format->count() - 1, qs(t.description), Qt::ToolTipRole);
    }
    m_formatInfo = new QLabel(this);
    m_formatInfo->setWordWrap(true);
    m_formatInfo->setObjectName(QStringLiteral("formatInfo"));

    m_bits = new QSpinBox(this);
    m_bits->setObjectName(QStringLiteral("bits"));
    m_bitsSlider = new QSlider(Qt::Horizontal, this);
    m_bitsSlider->setObjectName(QStringLiteral("bitsSlider"));
    m_bitsSlider->setTickPosition(QSlider::TicksBelow);
    m_bitsSlider->setPageStep(1);
    auto* bitsRow = new QHBoxLayout;
    bitsRow->addWidget(m_bits);
    bitsRow->addWidget(m_bitsSlider, 1);

    m_asym = new QRadioButton(tr("asymmetric"), this);
    m_asym->setObjectName(QStringLiteral("asymmetric"));
    m_sym = new QRadioButton(tr("symmetric"), this);
    m_sym->setObjectName(QStringLiteral("symmetric"));
    m_fullRange = new QCheckBox(tr("full range"), this);
    m_fullRange->setObjectName(QStringLiteral("fullRange"));
    m_fullRange->setToolTip(tr("Symmetric codes in [−2^(b−1), 2^(b−1)−1] instead of the restricted range"));
    auto* schemeGroup = new QButtonGroup(this);
    schemeGroup->addButton(m_asym);
    schemeGroup->addButton(m_sym);
    auto* schemeRow = new QHBoxLayout;
    schemeRow->addWidget(m_asym);
    schemeRow->addWidget(m_sym);
    schemeRow->addWidget(m_fullRange);
    schemeRow->addStretch(1);

    m_gran = new QComboBox(this);
    m_gran->setObjectName(QStringLiteral("granularity"));
    m_gran->addItem(tr("per tensor"), static_cast<int>(GranularityKind::Tensor));
    m_gran->addItem(tr("per channel"), static_cast<int>(GranularityKind::Channel));
    m_gran->addItem(tr("per group"), static_cast<int>(GranularityKind::Group));
    m_axis = new QSpinBox(this);
    m_axis->setObjectName(QStringLiteral("axis"));
    m_axis->setPrefix(tr("axis "));
    m_axis->setRange(-8, 7);
    m_group = new QSpinBox(this);
    m_group->setObjectName(QStringLiteral("groupSize"));
    m_group->setPrefix(tr("G = "));
    m_group->setRange(1, 1 << 20);
    m_group->setValue(128);
    m_group->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
    // Typed values apply on Enter or focus-out, so "3" on the way to "32" is never applied.
    m_group->setKeyboardTracking(false);
    auto* granRow = new QHBoxLayout;
    granRow->addWidget(m_gran, 1);
    granRow->addWidget(m_axis);
    granRow->addWidget(m_group);

    m_range = new QComboBox(this);
    m_range->setObjectName(QStringLiteral("range"));
    m_range->addItem(tr("min-max"), static_cast<int>(RangeKind::MinMax));
    m_range->addItem(tr("percentile"), static_cast<int>(RangeKind::Percentile));
    m_range->addItem(tr("MSE-optimal"), static_cast<int>(RangeKind::Mse));
    m_range->addItem(tr("KL entropy"), static_cast<int>(RangeKind::Kl));
    m_percentile = new QDoubleSpinBox(this);
    m_percentile->setObjectName(QStringLiteral("percentile"));
    m_percentile->setDecimals(3);
    m_percentile->setRange(50.0, 100.0);
    m_percentile->setSingleStep(0.1);
    m_percentile->setSuffix(QStringLiteral(" %"));
    m_percentile->setValue(99.9);
    m_percentile->setKeyboardTracking(false);
    auto* rangeRow = new QHBoxLayout;
    rangeRow->addWidget(m_range, 1);
    rangeRow->addWidget(m_percentile);

    m_scaleStorage = new QComboBox(this);
    m_scaleStorage->setObjectName(QStringLiteral("scaleStorage"));
    m_scaleStorage->addItem(tr("fp32"), static_cast<int>(ScaleStorage::F32));
    m_scaleStorage->addItem(tr("fp16"), static_cast<int>(ScaleStorage::F16));
    m_scaleStorage->addItem(tr("bf16"), static_cast<int>(ScaleStorage::BF16));
    m_scaleStorage->addItem(tr("int8 (double quantization)"), static_cast<int>(ScaleStorage::Int8));

    m_calib = new QComboBox(this);
    m_calib->setObjectName(QStringLiteral("calibration"));
    m_calib->setToolTip(tr("Activation samples per layer: with a set, the layer-output error "
                           "‖XWᵀ − XŴᵀ‖ / ‖XWᵀ‖ is measured for the layers it feeds"));
    m_calibSamples = new QSpinBox(this);
    m_calibSamples->setObjectName(QStringLiteral("calibrationSamples"));
    m_calibSamples->setSuffix(tr(" samples"));
    m_calibSamples->setToolTip(tr("Use the first N samples of the calibration set"));
    m_calibSamples->setKeyboardTracking(false);
    auto* calibRow = new QHBoxLayout;
    calibRow->addWidget(m_calib, 1);
    calibRow->addWidget(m_calibSamples);
    setCalibrationSources({tr("none")}, 0);
    setCalibrationSamples(0, 0);

    m_bpw = new QLabel(this);
    m_bpw->setObjectName(QStringLiteral("bitsPerWeight"));

    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Format"), m_format);
    form->addRow(QString(), m_formatInfo);
    form->addRow(tr("Bits"), bitsRow);
    form->addRow(tr("Scheme"), schemeRow);
    form->addRow(tr("Granularity"), granRow);
    form->addRow(tr("Range"), rangeRow);
    form->addRow(tr("Scale storage"), m_scaleStorage);
    form->addRow(tr("Calibration"), calibRow);
    form->addRow(tr("Cost"), m_bpw);

    m_applySel = new QPushButton(tr("Apply to selection"), this);
    m_applySel->setObjectName(QStringLiteral("applySelection"));
    m_pattern = new QLineEdit(this);
    m_pattern->setObjectName(QStringLiteral("pattern"));
    m_pattern->setPlaceholderText(tr("*mlp*"));
    m_patternKind = new QComboBox(this);
    m_patternKind->setObjectName(QStringLiteral("patternKind"));
    m_patternKind->addItem(tr("glob"), static_cast<int>(PatternKind::Glob));
    m_patternKind->addItem(tr("regex"), static_cast<int>(PatternKind::Regex));
    m_applyMatch = new QPushButton(tr("Apply to all matching"), this);
    m_applyMatch->setObjectName(QStringLiteral("applyMatching"));
    m_reset = new QPushButton(tr("Reset to default"), this);
    m_reset->setObjectName(QStringLiteral("resetDefault"));
    auto* patRow = new QHBoxLayout;
    patRow->addWidget(m_pattern, 1);
    patRow->addWidget(m_patternKind);

    auto* lay = new QVBoxLayout(this);
    lay->addWidget(m_scope);
    lay->addLayout(form);
    lay->addWidget(m_applySel);
    lay->addLayout(patRow);
    lay->addWidget(m_applyMatch);
    lay->addWidget(m_reset);
    lay->addStretch(1);

    auto edited = [this] {
        if (m_updating)
            return;
        readWidgets();
        emit specEdited(m_spec);
    };
    connect(m_format, &QComboBox::currentIndexChanged, this, [this] {
        if (m_updating)
            return;
        // A new format starts from its own defaults, keeping the bits when they are valid for it.
        const auto f = static_cast<Format>(m_format->currentData().toInt());
        QuantSpec next = defaultSpec(f);
        const FormatTraits& t = formatTraits(f);
        if (t.has(kParamBits) && m_spec.bits >= t.minBits && m_spec.bits <= t.maxBits)
            next.bits = m_spec.bits;
        if (t.has(kParamScheme))
            next.scheme = m_spec.scheme;
        if (t.has(kParamRange))
            next.range = m_spec.range;
        if (t.has(kParamGranularity) && t.blockSize == 0 && t.allows(m_spec.granularity.kind))
            next.granularity = m_spec.granularity;
        setSpec(next);
        emit specEdited(m_spec);
    });
    connect(m_bits, &QSpinBox::valueChanged, this, [this, edited](int v) {
        {
            const QSignalBlocker b(m_bitsSlider);
            m_bitsSlider->setValue(v);
        }
        edited();
    });
    connect(m_bitsSlider, &QSlider::valueChanged, m_bits, &QSpinBox::setValue);
    connect(m_asym, &QRadioButton::toggled, this, [edited](bool on) {
        if (on)
            edited();
    });
    connect(m_sym, &QRadioButton::toggled, this, [edited](bool on) {
        if (on)
            edited();
    });
    connect(m_fullRange, &QCheckBox::toggled, this, edited);
    connect(m_gran, &QComboBox::currentIndexChanged, this, edited);
    connect(m_axis, &QSpinBox::valueChanged, this, edited);
    connect(m_group, &QSpinBox::valueChanged, this, edited);
    connect(m_range, &QComboBox::currentIndexChanged, this, edited);
    connect(m_percentile, &QDoubleSpinBox::valueChanged, this, edited);
    connect(m_scaleStorage, &QComboBox::currentIndexChanged, this, edited);
    connect(m_calib, &QComboBox::activated, this, [this](int index) {
        if (index == m_calib->count() - 1)
            emit loadCalibrationRequested();
        else
            emit calibrationChosen(index);
    });
    connect(m_calibSamples, &QSpinBox::valueChanged, this, [this](int n) {
        if (m_calibSamples->isEnabled())
            emit calibrationSamplesChanged(n);
    });
    connect(m_applySel, &QPushButton::clicked, this, [this] { emit applyToSelectionRequested(m_spec); });
    connect(m_applyMatch, &QPushButton::clicked, this, [this] {
        const QString pattern = m_pattern->text().trimmed();
        if (pattern.isEmpty())
            return;
        emit applyToMatchingRequested(m_spec, static_cast<PatternKind>(m_patternKind->currentData().toInt()), pattern);
    });
    connect(m_reset, &QPushButton::clicked, this, &SpecEditor::resetToDefaultRequested);

    setSpec(QuantSpec{});
}

void SpecEditor::setScopeText(const QString& text)
{
    m_scope->setText(text);
}

void SpecEditor::setPatternText(const QString& text)
{
    m_pattern->setText(text);
}

void SpecEditor::setCalibrationSources(const QStringList& names, int current)
{
    const QSignalBlocker b(m_calib);
    m_calib->clear();
    m_calib->addItems(names);
    m_calib->addItem(tr("Load file…"));
    m_calib->setCurrentIndex(std::clamp(current, 0, static_cast<int>(names.size()) - 1));
}

void SpecEditor::setCalibrationSamples(int count, int available)
{
    const QSignalBlocker b(m_calibSamples);
    // Without a set the box reads "– samples" rather than a count of zero.
    m_calibSamples->setSpecialValueText(available > 0 ? QString() : tr("– samples"));
    m_calibSamples->setRange(available > 0 ? 1 : 0, std::max(available, 0));
    m_calibSamples->setValue(count);
    m_calibSamples->setEnabled(available > 0);
}

void SpecEditor::setTensorShape(const Shape& shape)
{
    m_shape = shape;
    const int rank = std::max(1, static_cast<int>(shape.size()));
    m_updating = true;
    m_axis->setRange(-rank, rank - 1);
    m_updating = false;
    updateEnabled();
}

void SpecEditor::fillBitsRange()
{
    const FormatTraits& t = formatTraits(m_spec.format);
    m_bits->setRange(t.minBits, t.maxBits);
    m_bitsSlider->setRange(t.minBits, t.maxBits);
}

void SpecEditor::setSpec(const QuantSpec& spec)
{
    m_updating = true;
    m_spec = spec;
    const int fi = m_format->findData(static_cast<int>(spec.format));
    m_format->setCurrentIndex(fi);
    fillBitsRange();
    m_bits->setValue(spec.bits);
    m_bitsSlider->setValue(spec.bits);
    m_asym->setChecked(spec.scheme == Scheme::Asymmetric);
    m_sym->setChecked(spec.scheme != Scheme::Asymmetric);
    m_fullRange->setChecked(spec.scheme == Scheme::SymmetricFull);
    m_gran->setCurrentIndex(m_gran->findData(static_cast<int>(spec.granularity.kind)));
    m_axis->setValue(spec.granularity.axis);
    m_group->setValue(static_cast<int>(std::min<std::int64_t>(spec.granularity.groupSize, 1 << 20)));
    m_range->setCurrentIndex(m_range->findData(static_cast<int>(spec.range.kind)));
    m_percentile->setValue(spec.range.percentile);
    m_scaleStorage->setCurrentIndex(m_scaleStorage->findData(static_cast<int>(spec.scaleStorage)));
    m_updating = false;
    updateEnabled();
}

void SpecEditor::readWidgets()
{
    QuantSpec s = m_spec;
    s.format = static_cast<Format>(m_format->currentData().toInt());
    s.bits = m_bits->value();
    if (m_asym->isChecked())
        s.scheme = Scheme::Asymmetric;
    else
        s.scheme = m_fullRange->isChecked() ? Scheme::SymmetricFull : Scheme::Symmetric;
    s.granularity.kind = static_cast<GranularityKind>(m_gran->currentData().toInt());
    s.granularity.axis = m_axis->value();
    s.granularity.groupSize = m_group->value();
    s.range.kind = static_cast<RangeKind>(m_range->currentData().toInt());
    s.range.percentile = m_percentile->value();
    s.scaleStorage = static_cast<ScaleStorage>(m_scaleStorage->currentData().toInt());
    m_spec = s;
    updateEnabled();
}

void SpecEditor::updateEnabled()
{
    const FormatTraits& t = formatTraits(m_spec.format);
    m_formatInfo->setText(qs(t.description));
    const bool bits = t.has(kParamBits) && t.minBits != t.maxBits;
    m_bits->setEnabled(bits);
    m_bitsSlider->setEnabled(bits);
    const bool scheme = t.has(kParamScheme);
    m_asym->setEnabled(scheme);
    m_sym->setEnabled(scheme);
    m_fullRange->setEnabled(scheme && m_spec.scheme != Scheme::Asymmetric);
    const bool gran = t.has(kParamGranularity) && t.blockSize == 0;
    m_gran->setEnabled(gran);
    auto* model = qobject_cast<QStandardItemModel*>(m_gran->model());
    for (int i = 0; i < m_gran->count(); ++i) {
        const auto k = static_cast<GranularityKind>(m_gran->itemData(i).toInt());
        if (model && model->item(i))
            model->item(i)->setEnabled(t.allows(k));
    }
    m_axis->setEnabled(gran && m_spec.granularity.kind != GranularityKind::Tensor);
    m_group->setEnabled(gran && t.has(kParamGroupSize) && m_spec.granularity.kind == GranularityKind::Group);
    const bool range = t.has(kParamRange);
    m_range->setEnabled(range);
    m_percentile->setEnabled(range && m_spec.range.kind == RangeKind::Percentile);
    m_scaleStorage->setEnabled(t.has(kParamScaleStorage));
    QString cost = qs(t.bitsFormula);
    if (!m_shape.empty()) {
        if (auto ok = validateSpec(m_spec, m_shape); ok)
            cost = tr("%1 bits/weight").arg(bitsPerWeight(m_spec, m_shape), 0, 'f', 3);
        else
            cost = QString::fromStdString(ok.error().message);
    }
    m_bpw->setText(cost);
}

} // namespace ql
