"""Synthetic instances of many IODs, with planted identifiers, for conformance tests.

:func:`make_iod` builds one instance of an IOD family — CT, MR, PET, US, secondary capture,
SR, RT Structure Set / Plan / Dose, segmentation, 12-lead ECG, enhanced MR and enhanced CT
(multi-frame functional groups) — holding the Type 1 and Type 2 attributes the de-identification
profiles act on (dates and times, operators, reviewers, institution and device, referenced
procedure steps, person names in SR content) with distinctive identifying values. Each is
valid: dicom3tools' ``dciodvfy`` finds no error in it (``tests/deid/test_iod_validator.py``
checks), so any error in a de-identified copy is one de-identification introduced.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry.testing.factory import UID_ROOT, new_file_dataset

#: family → SOP Class UID
SOP_CLASSES = {
    "ct": "1.2.840.10008.5.1.4.1.1.2",
    "mr": "1.2.840.10008.5.1.4.1.1.4",
    "pet": "1.2.840.10008.5.1.4.1.1.128",
    "us": "1.2.840.10008.5.1.4.1.1.6.1",
    "sc": "1.2.840.10008.5.1.4.1.1.7",
    "sr": "1.2.840.10008.5.1.4.1.1.88.33",
    "rtstruct": "1.2.840.10008.5.1.4.1.1.481.3",
    "rtplan": "1.2.840.10008.5.1.4.1.1.481.5",
    "rtdose": "1.2.840.10008.5.1.4.1.1.481.2",
    "seg": "1.2.840.10008.5.1.4.1.1.66.4",
    "ecg": "1.2.840.10008.5.1.4.1.1.9.1.1",
    "enhanced-mr": "1.2.840.10008.5.1.4.1.1.4.1",
    "enhanced-ct": "1.2.840.10008.5.1.4.1.1.2.1",
}
FAMILIES = tuple(SOP_CLASSES)
_MODALITY = {"ct": "CT", "mr": "MR", "pet": "PT", "us": "US", "sc": "OT", "sr": "SR",
             "rtstruct": "RTSTRUCT", "rtplan": "RTPLAN", "rtdose": "RTDOSE", "seg": "SEG",
             "ecg": "ECG", "enhanced-mr": "MR", "enhanced-ct": "CT"}
_DAY = "20190314"
_TIME = "101500"


def _uid(*parts: int) -> str:
    return UID_ROOT + "8." + ".".join(str(p) for p in parts)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _seq(*items: Dataset) -> Sequence:
    return Sequence(list(items))


def make_iod(family: str, *, patient: int = 0, instance: int = 0) -> Dataset:
    """One instance of ``family`` (a key of :data:`SOP_CLASSES`) with planted identifiers; it
    has file meta and can be saved with ``ds.save_as(path, enforce_file_format=True)``."""
    if family not in SOP_CLASSES:
        raise ValueError(f"unknown IOD family {family!r}; known: {', '.join(FAMILIES)}")
    sop_class = SOP_CLASSES[family]
    n = FAMILIES.index(family) + 1
    sop_uid = _uid(patient + 1, n, instance + 1)
    ds = new_file_dataset(sop_class, sop_uid)
    ds.InstanceCreationDate, ds.InstanceCreationTime = _DAY, _TIME
    # patient, study
    ds.PatientName = "Quillfeather^Ermengarde"
    ds.PatientID = f"MRN{patient:03d}7Q55"
    ds.IssuerOfPatientID = "SAINT-IGNATIUS-MRN"
    ds.PatientBirthDate = "19500312"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = _uid(patient + 1, 0)
    ds.StudyDate, ds.StudyTime = _DAY, _TIME
    ds.ReferringPhysicianName = "Blackwood^Cornelius"
    ds.StudyID = "SID0007"
    ds.AccessionNumber = "ACC7Q1231"
    ds.StudyDescription = "CHEST"
    # series, equipment
    ds.Modality = _MODALITY[family]
    ds.SeriesInstanceUID = _uid(patient + 1, n, 0)
    ds.SeriesNumber = n
    ds.SeriesDate, ds.SeriesTime = _DAY, _TIME
    ds.OperatorsName = "Nightingale^Rosalind"
    ds.PerformingPhysicianName = "Featherstonehaugh^Agatha"
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    ref.ReferencedSOPInstanceUID = _uid(patient + 1, 77)
    ds.ReferencedPerformedProcedureStepSequence = _seq(ref)
    ds.Manufacturer = "ACME"
    ds.InstitutionName = "Saint Ignatius Memorial Hospital"
    ds.StationName = "CTZETA01"
    ds.DeviceSerialNumber = "SN-7Q-4411"
    ds.InstanceNumber = instance + 1
    ds.ContentDate, ds.ContentTime = _DAY, _TIME
    _BUILDERS[family](ds, patient)
    return ds


# ------------------------------------------------------------------------------ images
def _frame_of_reference(ds: Dataset, patient: int) -> None:
    if ds.Modality in ("CT", "MR"):
        ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = _uid(patient + 1, 0, 9)
    ds.PositionReferenceIndicator = ""


def _pixels(ds: Dataset, rows: int = 8, cols: int = 8, bits: int = 16, frames: int = 1,
            color: bool = False) -> None:
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits != 16 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    dtype = {1: np.uint8, 8: np.uint8, 16: np.uint16, 32: np.uint32}[bits]
    count = rows * cols * frames * (3 if color else 1)
    if bits == 1:
        ds.PixelData = np.zeros((count + 7) // 8 + ((count + 7) // 8) % 2, np.uint8).tobytes()
        return
    top = 4095 if bits == 16 else 255 if bits == 8 else 1000
    data = np.arange(count, dtype=np.int64) % top
    ds.PixelData = data.astype(dtype).tobytes()


def _plane(ds: Dataset, z: float = 0.0) -> None:
    ds.PixelSpacing = [0.7, 0.7]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, z]
    ds.SliceThickness = "1.25"


def _general_image(ds: Dataset) -> None:
    ds.Laterality = ""
    ds.PatientOrientation = ""
    ds.AcquisitionDate, ds.AcquisitionTime = _DAY, _TIME
    ds.AcquisitionNumber = 1


def _ct(ds: Dataset, patient: int) -> None:
    _frame_of_reference(ds, patient)
    _general_image(ds)
    _plane(ds)
    _pixels(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.KVP = "120"
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    ds.RescaleType = "HU"


def _mr(ds: Dataset, patient: int) -> None:
    _frame_of_reference(ds, patient)
    _general_image(ds)
    _plane(ds)
    _pixels(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = "500"
    ds.EchoTime = "20"
    ds.EchoTrainLength = "1"


def _pet(ds: Dataset, patient: int) -> None:
    _frame_of_reference(ds, patient)
    _general_image(ds)
    _plane(ds)
    _pixels(ds)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Units = "BQML"
    ds.CountsSource = "EMISSION"
    ds.SeriesType = ["STATIC", "IMAGE"]
    ds.NumberOfSlices = 1
    ds.CorrectedImage = ["DECY", "ATTN"]
    ds.DecayCorrection = "START"
    ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
    ds.FrameReferenceTime = "0"
    ds.ImageIndex = 1
    ds.ActualFrameDuration = 300000
    ds.DecayFactor = "1"
    ds.CollimatorType = "NONE"
    ds.BitsStored, ds.HighBit = 16, 15
    info = Dataset()
    info.RadionuclideCodeSequence = _seq(_code("C-111A1", "SRT", "^18^Fluorine"))
    info.RadiopharmaceuticalStartTime = _TIME
    info.RadionuclideTotalDose = "370000000"
    info.RadionuclideHalfLife = "6586.2"
    ds.RadiopharmaceuticalInformationSequence = _seq(info)
    ds.PatientOrientationCodeSequence = _seq(_code("F-10450", "SRT", "recumbent"))
    ds.PatientGantryRelationshipCodeSequence = _seq(_code("F-10470", "SRT", "headfirst"))


def _us(ds: Dataset, patient: int) -> None:
    _general_image(ds)
    _pixels(ds, bits=8)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"  # (absent, a US image is taken to hold burned-in text)


def _sc(ds: Dataset, patient: int) -> None:
    _pixels(ds, bits=8)
    ds.Laterality = ""
    ds.PatientOrientation = ""
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "NO"  # (absent, a secondary capture is taken to hold text)


# ------------------------------------------------------------------------------ SR
def _content(value_type: str, relationship: str, concept: Dataset, **values: object) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = _seq(concept)
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _sr(ds: Dataset, patient: int) -> None:
    del ds.InstanceCreationDate, ds.InstanceCreationTime
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "Thistlewood^Cressida"
    observer.VerifyingObserverIdentificationCodeSequence = _seq()
    observer.VerifyingOrganization = "Saint Ignatius Memorial Hospital"
    observer.VerificationDateTime = _DAY + _TIME
    ds.VerifyingObserverSequence = _seq(observer)
    ds.PerformedProcedureCodeSequence = _seq()
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = _seq(_code("18748-4", "LN", "Diagnostic Imaging Report"))
    ds.ContinuityOfContent = "SEPARATE"
    observer_name = _content("PNAME", "HAS OBS CONTEXT", _code("121008", "DCM",
                                                               "Person Observer Name"),
                             PersonName="Marrowby^Thaddeus")
    finding = _content("TEXT", "CONTAINS", _code("121071", "DCM", "Finding"),
                       TextValue="Seen by Dr Blackwood on 03/14/2019, MRN007Q55")
    when = _content("DATE", "CONTAINS", _code("111060", "DCM", "Study Date"), Date=_DAY)
    ds.ContentSequence = _seq(observer_name, finding, when)


# ------------------------------------------------------------------------------ RT
def _approval(ds: Dataset) -> None:
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate, ds.ReviewTime = _DAY, _TIME
    ds.ReviewerName = "Wexcombe^Philomena"


def _rtstruct(ds: Dataset, patient: int) -> None:
    del ds.ContentDate, ds.ContentTime
    _frame_of_reference(ds, patient)
    ds.StructureSetLabel = "PLANNING"
    ds.StructureSetDate, ds.StructureSetTime = _DAY, _TIME
    frame = _uid(patient + 1, 0, 9)
    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = frame
    roi.ROIName = "GTV"
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = _seq(roi)
    contour = Dataset()
    contour.ContourGeometricType = "CLOSED_PLANAR"
    contour.NumberOfContourPoints = 3
    contour.ContourData = [0, 0, 0, 10, 0, 0, 10, 10, 0]
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber = 1
    roi_contour.ROIDisplayColor = [255, 0, 0]
    roi_contour.ContourSequence = _seq(contour)
    ds.ROIContourSequence = _seq(roi_contour)
    observation = Dataset()
    observation.ObservationNumber = 1
    observation.ReferencedROINumber = 1
    observation.RTROIInterpretedType = "GTV"
    observation.ROIInterpreter = "Harrowgate^Bartholomew"
    ds.RTROIObservationsSequence = _seq(observation)
    _approval(ds)


def _rtplan(ds: Dataset, patient: int) -> None:
    del ds.ContentDate, ds.ContentTime
    _frame_of_reference(ds, patient)
    ds.RTPlanLabel = "PLAN1"
    ds.RTPlanDate, ds.RTPlanTime = _DAY, _TIME
    ds.RTPlanGeometry = "PATIENT"
    structure = Dataset()
    structure.ReferencedSOPClassUID = SOP_CLASSES["rtstruct"]
    structure.ReferencedSOPInstanceUID = _uid(patient + 1, 99, 1)
    ds.ReferencedStructureSetSequence = _seq(structure)
    _approval(ds)


def _rtdose(ds: Dataset, patient: int) -> None:
    _frame_of_reference(ds, patient)
    _general_image(ds)
    _plane(ds)
    ds.SliceThickness = ""
    _pixels(ds, frames=2)
    ds.BitsStored, ds.HighBit = 16, 15
    ds.NumberOfFrames = 2
    ds.FrameIncrementPointer = 0x3004000C
    ds.GridFrameOffsetVector = [0, 2.5]
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = "0.0001"
    plan = Dataset()
    plan.ReferencedSOPClassUID = SOP_CLASSES["rtplan"]
    plan.ReferencedSOPInstanceUID = _uid(patient + 1, 99, 2)
    ds.ReferencedRTPlanSequence = _seq(plan)


# ------------------------------------------------------------------------------ multi-frame
def _enhanced_equipment(ds: Dataset) -> None:
    ds.ManufacturerModelName = "Model Z"
    ds.SoftwareVersions = "1.0"


def _dimensions(ds: Dataset, pointer: int, group: int) -> None:
    organisation = _uid(0, 55)
    dim = Dataset()
    dim.DimensionOrganizationUID = organisation
    ds.DimensionOrganizationSequence = _seq(dim)
    index = Dataset()
    index.DimensionOrganizationUID = organisation
    index.DimensionIndexPointer = pointer
    index.FunctionalGroupPointer = group
    ds.DimensionIndexSequence = _seq(index)


def _frame_content(number: int, *, acquisition: bool = True) -> Dataset:
    content = Dataset()
    if acquisition:
        content.FrameAcquisitionDateTime = _DAY + _TIME
        content.FrameReferenceDateTime = _DAY + _TIME
        content.FrameAcquisitionDuration = 100.0
    content.DimensionIndexValues = [number]
    return content


def _seg(ds: Dataset, patient: int) -> None:
    _enhanced_equipment(ds)
    _frame_of_reference(ds, patient)
    frames = 2
    _pixels(ds, bits=1, frames=frames)
    ds.NumberOfFrames = frames
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel = "SEGMENTATION"
    ds.ContentDescription = "Lesion of Quillfeather"
    ds.ContentCreatorName = "Pembertonia^Wilhelmina"
    ds.LossyImageCompression = "00"
    ds.SegmentationType = "BINARY"
    segment = Dataset()
    segment.SegmentNumber = 1
    segment.SegmentLabel = "Lesion"
    segment.SegmentAlgorithmType = "MANUAL"
    segment.SegmentedPropertyCategoryCodeSequence = _seq(_code("49755003", "SCT",
                                                               "Morphologically Abnormal "
                                                               "Structure"))
    segment.SegmentedPropertyTypeCodeSequence = _seq(_code("4147007", "SCT", "Mass"))
    ds.SegmentSequence = _seq(segment)
    measures = Dataset()
    measures.PixelSpacing = [0.7, 0.7]
    measures.SliceThickness = "1.25"
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(measures)
    shared.PlaneOrientationSequence = _seq(orientation)
    shared.SegmentIdentificationSequence = _seq(_referenced_segment())
    ds.SharedFunctionalGroupsSequence = _seq(shared)
    per_frame = []
    for i in range(frames):
        position = Dataset()
        position.ImagePositionPatient = [0, 0, 1.25 * i]
        item = Dataset()
        item.FrameContentSequence = _seq(_frame_content(i + 1, acquisition=False))
        item.PlanePositionSequence = _seq(position)
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    _dimensions(ds, 0x00200032, 0x00209113)


def _referenced_segment() -> Dataset:
    item = Dataset()
    item.ReferencedSegmentNumber = 1
    return item


def _enhanced(ds: Dataset, patient: int, family: str) -> None:
    _enhanced_equipment(ds)
    _frame_of_reference(ds, patient)
    frames = 2
    _pixels(ds, frames=frames)
    ds.NumberOfFrames = frames
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.AcquisitionDateTime = _DAY + _TIME
    ds.AcquisitionNumber = 1
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.ContentQualification = "PRODUCT"
    ds.AcquisitionDuration = 1.0
    ds.AcquisitionContextSequence = _seq()
    measures = Dataset()
    measures.PixelSpacing = [0.7, 0.7]
    measures.SliceThickness = "1.25"
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    anatomy = Dataset()
    anatomy.AnatomicRegionSequence = _seq(_code("51185008", "SCT", "Thorax"))
    anatomy.FrameLaterality = "U"
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(measures)
    shared.PlaneOrientationSequence = _seq(orientation)
    shared.FrameAnatomySequence = _seq(anatomy)
    if family == "enhanced-ct":
        ds.VolumetricProperties = "VOLUME"
        ds.VolumeBasedCalculationTechnique = "NONE"
        ds.PixelPresentation = "MONOCHROME"
        frame_type.PixelPresentation = "MONOCHROME"
        frame_type.VolumetricProperties = "VOLUME"
        frame_type.VolumeBasedCalculationTechnique = "NONE"
        shared.CTImageFrameTypeSequence = _seq(frame_type)
        transform = Dataset()
        transform.RescaleIntercept, transform.RescaleSlope = "-1024", "1"
        transform.RescaleType = "HU"
        shared.PixelValueTransformationSequence = _seq(transform)
        acquisition = Dataset()
        acquisition.AcquisitionType = "SPIRAL"
        acquisition.ConstantVolumeFlag = "NO"
        acquisition.FluoroscopyFlag = "NO"
        shared.CTAcquisitionTypeSequence = _seq(acquisition)
        details = Dataset()
        details.DataCollectionDiameter = 500.0
        details.GantryDetectorTilt = 0.0
        details.TableHeight = 100.0
        details.RotationDirection = "CW"
        details.RevolutionTime = 0.5
        details.SingleCollimationWidth = 0.625
        details.TotalCollimationWidth = 40.0
        shared.CTAcquisitionDetailsSequence = _seq(details)
        table = Dataset()
        table.TableSpeed = 50.0
        table.TableFeedPerRotation = 25.0
        table.SpiralPitchFactor = 0.6
        shared.CTTableDynamicsSequence = _seq(table)
        geometry = Dataset()
        geometry.DistanceSourceToDetector = 1000.0
        geometry.DistanceSourceToDataCollectionCenter = 500.0
        shared.CTGeometrySequence = _seq(geometry)
        reconstruction = Dataset()
        reconstruction.ReconstructionAlgorithm = "FILTER_BACK_PROJ"
        reconstruction.ConvolutionKernel = "STANDARD"
        reconstruction.ConvolutionKernelGroup = "SOFT_TISSUE"
        reconstruction.ReconstructionDiameter = 350.0
        reconstruction.ReconstructionPixelSpacing = [0.7, 0.7]
        reconstruction.ReconstructionAngle = 360.0
        reconstruction.ImageFilter = "NONE"
        shared.CTReconstructionSequence = _seq(reconstruction)
        exposure = Dataset()
        exposure.ExposureTimeInms = 500.0
        exposure.XRayTubeCurrentInmA = 200.0
        exposure.ExposureInmAs = 100.0
        exposure.ExposureModulationType = "NONE"
        shared.CTExposureSequence = _seq(exposure)
        xray = Dataset()
        xray.KVP = "120"
        xray.FilterType = "FLAT"
        xray.FilterMaterial = ["ALUMINUM"]
        xray.FocalSpots = [0.7]
        shared.CTXRayDetailsSequence = _seq(xray)
    else:
        ds.VolumetricProperties = "VOLUME"
        ds.VolumeBasedCalculationTechnique = "NONE"
        ds.ComplexImageComponent = "MAGNITUDE"
        ds.AcquisitionContrast = "T1"
        ds.PixelPresentation = "MONOCHROME"
        ds.ResonantNucleus = "1H"
        ds.KSpaceFiltering = "NONE"
        ds.MagneticFieldStrength = "3"
        ds.ApplicableSafetyStandardAgency = "IEC"
        ds.ImagingFrequency = 127.7
        ds.EchoPulseSequence = "SPIN"
        ds.MultipleSpinEcho = "NO"
        ds.MultiPlanarExcitation = "NO"
        ds.PhaseContrast = "NO"
        ds.TimeOfFlightContrast = "NO"
        ds.SteadyStatePulseSequence = "NONE"
        ds.EchoPlanarPulseSequence = "NO"
        ds.SaturationRecovery = "NO"
        ds.SpectrallySelectedSuppression = "NONE"
        ds.OversamplingPhase = "NONE"
        ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
        ds.RectilinearPhaseEncodeReordering = "LINEAR"
        ds.SegmentedKSpaceTraversal = "SINGLE"
        ds.NumberOfKSpaceTrajectories = 1
        ds.PulseSequenceName = "SE"
        ds.MRAcquisitionType = "2D"
        for keyword in ("ComplexImageComponent", "AcquisitionContrast", "PixelPresentation",
                        "VolumetricProperties", "VolumeBasedCalculationTechnique"):
            setattr(frame_type, keyword, getattr(ds, keyword))
        shared.MRImageFrameTypeSequence = _seq(frame_type)
        timing = Dataset()
        timing.RepetitionTime = 500.0
        timing.FlipAngle = 90.0
        timing.EchoTrainLength = 1
        timing.RFEchoTrainLength = 1
        timing.GradientEchoTrainLength = 0
        sar = Dataset()
        sar.SpecificAbsorptionRateDefinition = "IEC_WHOLE_BODY"
        sar.SpecificAbsorptionRateValue = 0.5
        timing.SpecificAbsorptionRateSequence = _seq(sar)
        mode = Dataset()
        mode.OperatingModeType = "STATIC FIELD"
        mode.OperatingMode = "IEC_NORMAL"
        timing.OperatingModeSequence = _seq(mode)
        timing.GradientOutputType = "DB_DT"
        timing.GradientOutput = 10.0
        shared.MRTimingAndRelatedParametersSequence = _seq(timing)
        fov = Dataset()
        fov.InPlanePhaseEncodingDirection = "ROW"
        fov.MRAcquisitionFrequencyEncodingSteps = 8
        fov.MRAcquisitionPhaseEncodingStepsInPlane = 8
        fov.PercentSampling = 100.0
        fov.PercentPhaseFieldOfView = 100.0
        shared.MRFOVGeometrySequence = _seq(fov)
        echo = Dataset()
        echo.EffectiveEchoTime = 20.0
        shared.MREchoSequence = _seq(echo)
        modifier = Dataset()
        modifier.InversionRecovery = "NO"
        modifier.FlowCompensation = "NONE"
        modifier.Spoiling = "NONE"
        modifier.T2Preparation = "NO"
        modifier.SpectrallySelectedExcitation = "NONE"
        modifier.SpatialPresaturation = "NONE"
        modifier.PartialFourier = "NO"
        modifier.ParallelAcquisition = "NO"
        shared.MRModifierSequence = _seq(modifier)
        imaging = Dataset()
        imaging.MagnetizationTransfer = "NONE"
        imaging.BloodSignalNulling = "NO"
        imaging.Tagging = "NONE"
        imaging.TransmitterFrequency = [127.7]
        imaging.PixelBandwidth = 200.0
        shared.MRImagingModifierSequence = _seq(imaging)
        receive = Dataset()
        receive.ReceiveCoilName = "HEAD"
        receive.ReceiveCoilManufacturerName = "ACME"
        receive.ReceiveCoilType = "VOLUME"
        receive.QuadratureReceiveCoil = "YES"
        shared.MRReceiveCoilSequence = _seq(receive)
        transmit = Dataset()
        transmit.TransmitCoilName = "BODY"
        transmit.TransmitCoilManufacturerName = "ACME"
        transmit.TransmitCoilType = "BODY"
        shared.MRTransmitCoilSequence = _seq(transmit)
        averages = Dataset()
        averages.NumberOfAverages = 1.0
        shared.MRAveragesSequence = _seq(averages)
        transform = Dataset()
        transform.RescaleIntercept, transform.RescaleSlope = "0", "1"
        transform.RescaleType = "US"
        shared.PixelValueTransformationSequence = _seq(transform)
    ds.SharedFunctionalGroupsSequence = _seq(shared)
    per_frame = []
    for i in range(frames):
        position = Dataset()
        position.ImagePositionPatient = [0, 0, 1.25 * i]
        item = Dataset()
        item.FrameContentSequence = _seq(_frame_content(i + 1))
        item.PlanePositionSequence = _seq(position)
        if family == "enhanced-ct":
            event = Dataset()
            event.IrradiationEventUID = _uid(patient + 1, 66, i + 1)
            item.IrradiationEventIdentificationSequence = _seq(event)
            place = Dataset()
            place.TablePosition = -100.0 - 1.25 * i
            place.ReconstructionTargetCenterPatient = [0.0, 0.0, 1.25 * i]
            place.DataCollectionCenterPatient = [0.0, 0.0, 1.25 * i]
            item.CTPositionSequence = _seq(place)
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    _dimensions(ds, 0x00200032, 0x00209113)


# ------------------------------------------------------------------------------ waveform
def _ecg(ds: Dataset, patient: int) -> None:
    del ds.InstanceCreationDate, ds.InstanceCreationTime
    ds.AcquisitionDateTime = _DAY + _TIME
    ds.AcquisitionContextSequence = _seq()
    ds.SynchronizationFrameOfReferenceUID = "1.2.840.10008.15.1.1"
    ds.SynchronizationTrigger = "NO TRIGGER"
    ds.AcquisitionTimeSynchronized = "N"
    ds.ManufacturerModelName = "Model Z"
    samples, channels = 16, 12
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = channels
    group.NumberOfWaveformSamples = samples
    group.SamplingFrequency = 500.0
    group.MultiplexGroupLabel = "RHYTHM"
    leads = [("5.6.3-9-1", "I"), ("5.6.3-9-2", "II"), ("5.6.3-9-61", "III"),
             ("5.6.3-9-62", "aVR"), ("5.6.3-9-63", "aVL"), ("5.6.3-9-64", "aVF"),
             ("5.6.3-9-3", "V1"), ("5.6.3-9-4", "V2"), ("5.6.3-9-5", "V3"),
             ("5.6.3-9-6", "V4"), ("5.6.3-9-7", "V5"), ("5.6.3-9-8", "V6")]
    definitions = []
    for value, name in leads:
        channel = Dataset()
        source = _code(value, "SCPECG", f"Lead {name}")
        source.CodingSchemeVersion = "1.3"
        channel.ChannelSourceSequence = _seq(source)
        channel.ChannelSensitivity = "1"
        channel.ChannelSensitivityUnitsSequence = _seq(_code("uV", "UCUM", "microvolt"))
        channel.ChannelSensitivityCorrectionFactor = "1"
        channel.ChannelBaseline = "0"
        channel.ChannelSampleSkew = "0"
        channel.WaveformBitsStored = 16
        channel.FilterLowFrequency = "0.05"
        channel.FilterHighFrequency = "150"
        definitions.append(channel)
    group.ChannelDefinitionSequence = Sequence(definitions)
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = np.zeros(samples * channels, np.int16).tobytes()
    ds.WaveformSequence = _seq(group)


_BUILDERS = {
    "ct": _ct, "mr": _mr, "pet": _pet, "us": _us, "sc": _sc, "sr": _sr,
    "rtstruct": _rtstruct, "rtplan": _rtplan, "rtdose": _rtdose, "seg": _seg, "ecg": _ecg,
    "enhanced-mr": lambda ds, patient: _enhanced(ds, patient, "enhanced-mr"),
    "enhanced-ct": lambda ds, patient: _enhanced(ds, patient, "enhanced-ct"),
}
