"""APCO ANS 2.103.1 common incident types: the vocabulary a pack's nature-code map and `apco` conditions use.

Copied from NENA's EIDO schema (NENA911/EIDO-JSON `Schema/NIEMComponents/apco.yaml`, enum
`apcoIncidentCategoryCodeSimpleType`) so that a typo such as `EDPP` in a rule pack is a load error, not a rule
that silently never fires.
"""

from __future__ import annotations

APCO_INCIDENT_TYPES: frozenset[str] = frozenset(
    (
        "911H", "911OPN", "ABDOM", "ABDUCTF", "ABDUCTNF", "ABUSE", "ACCIND", "ADMIN", "AIR", "ALIEN",
        "ALLERGIC", "ALRBA", "ALRBOX", "ALRBS", "ALRCO", "ALRCO2", "ALRDEFIB", "ALRF", "ALRGAS", "ALRHEAT",
        "ALRKPAD", "ALRMED", "ALRNGAS", "ALRPANA", "ALRPANS", "ALRPROPN", "ALRPULL", "ALRROBA", "ALRROBS",
        "ALRU", "ALRVEH", "ALRWTR", "ALS", "ANIMAL", "ASSAULT", "ASSIST", "ATL", "BACK", "BARICADE", "BIO",
        "BITE", "BLDCLPSE", "BLEEDING", "BLS", "BOMB", "BRGCLPSE", "BURGLARY", "BURN", "CARDIAC", "CARJACK",
        "CHEMICAL", "CHESPAIN", "CHOKE", "CITASST", "CIVDIS", "CIVIL", "CNTRFT", "CRIMPS", "CRIMTRAF",
        "CURFEW", "DEATH", "DEATHNTF", "DIABETIC", "DISORD", "DISVEH", "DROWN", "DRUGPAR", "DRUGS", "DUI",
        "DVA", "DVNA", "EDP", "ELEC", "ELECHZD", "ELUDING", "ENTRAP", "ESCAPE", "EXPLOS", "EXPOSURE",
        "EXTORT", "EYE", "FAIRC", "FALL", "FAPT", "FARSON", "FBRUSH", "FELEC", "FFUEL", "FIGHT", "FIREWRKS",
        "FMARINE", "FORCENTR", "FOTHER", "FRAUD", "FREPORT", "FSMOKE", "FSTRU", "FTRAILER", "FTRAIN",
        "FTRASH", "FTRUCK", "FUNK", "FVEH", "GASLEAK", "HARR", "HAZMAT", "HEADACHE", "HEMRG", "HOMICIDE",
        "HOSTAGE", "INDECENT", "INFO", "INTERNET", "INTOX", "INVEST", "LARCENY", "LIQUOR", "MAJORINC",
        "MAYDAY", "MCI", "MISBOATR", "MISCON", "MVA", "MVAHR", "MVAINJY", "MVAUNK", "NEGLECT", "NOISE",
        "OD", "ODOR", "OPEN", "ORDERV", "PANDEMIC", "PARKING", "PERFND", "PERMISS", "PERSUSP", "PERUNCON",
        "PERWANT", "PHANDLE", "PREG", "PROPFND", "PROPLOST", "PROPSTLN", "PUBWKS", "PURSUIT", "RADIAT",
        "RECKDRV", "REPO", "RESCUE", "RESIST", "RESP", "RESPARR", "ROBBERY", "RUNAWAY", "SAR", "SEIZURE",
        "SEXOFFNS", "SHOOT", "SHOPLIFT", "SICK", "SMOKING", "STABBING", "STDBY", "STROKE", "SUBJSTP",
        "SUICIDE", "SUICTHRT", "SUSP", "TERROR", "THAZ", "THREATS", "TOW", "TRAIN", "TRAINDRL", "TRANSFER",
        "TRAUMA", "TRAUMAP", "TRESPASS", "TROUBLE", "TRUANT", "TSTOP", "VANDAL", "VEHABND", "VEHASST",
        "VEHLOCK", "VEHREC", "VEHSTLN", "VEHSUSP", "VICE", "WARRANT", "WATER", "WEAPON", "WELFARE",
        "WILDLIFE", "WIRES", "XTRACATE",
    )
)
