// Plain-Java core of the demo: manifest, budget policy, model switching, preprocessing.
// It must not use android.* so that it compiles and runs its tests on any JVM.
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(17)
}

dependencies {
    // org.json is part of Android; off the phone the core compiles and tests against the same
    // classes (Android's sources, as Debian's libandroid-json-java for run-jvm-tests.sh).
    compileOnly("com.vaadin.external.google:android-json:0.0.20131108.vaadin1")
    testImplementation("com.vaadin.external.google:android-json:0.0.20131108.vaadin1")
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // The policy vectors shared with the Python runtime (dvn_runtime) live at the repo root.
    systemProperty(
        "dvn.policyVectors",
        rootProject.file("../tests/fixtures/policy_vectors.json").absolutePath,
    )
    // The joint-ladder vectors (several tasks under one budget), shared the same way.
    systemProperty(
        "dvn.jointVectors",
        rootProject.file("../tests/fixtures/joint_ladder_vectors.json").absolutePath,
    )
    // A shared-layout export of the Python exporter (tests/fixtures/make_shared_export.py).
    systemProperty("dvn.sharedExport", rootProject.file("../tests/fixtures/shared_export").absolutePath)
    // The per-class recall fixture that the Python and JS manifest tests read too.
    systemProperty(
        "dvn.perClassFixture",
        rootProject.file("../tests/fixtures/per_class_recall").absolutePath,
    )
}
