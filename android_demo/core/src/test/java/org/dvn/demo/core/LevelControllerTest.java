package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

public class LevelControllerTest {
  private static final BudgetPolicy.Settings SETTINGS =
      BudgetPolicy.Settings.defaults().withMarginFraction(0).withUpgradeAfter(2);

  private final FakeModels loader = new FakeModels();
  private final List<SwitchEvent> events = new ArrayList<>();
  private Manifest manifest;
  private ModelSwitcher switcher;

  @Before
  public void setUp() throws ManifestException {
    manifest = FakeModels.manifest(1000, 2000, 4000);
    switcher = new ModelSwitcher(loader, events::add);
  }

  @After
  public void tearDown() {
    switcher.close();
    assertEquals(Collections.emptyList(), loader.violations);
  }

  @Test
  public void followsThePolicyWithReasons() throws IOException {
    LevelController controller =
        new LevelController(manifest.task("digit"), SETTINGS, switcher);
    assertEquals("initial", controller.onReading(5000).reason());
    assertEquals(3, switcher.currentModel().level());
    assertEquals("downgrade", controller.onReading(1500).reason());
    assertEquals(1, switcher.currentModel().level());
    assertNull("upgrades wait for 2 readings", controller.onReading(5000));
    SwitchEvent upgrade = controller.onReading(5000);
    assertEquals("upgrade", upgrade.reason());
    assertEquals(1, upgrade.from().level());
    assertEquals(3, upgrade.to().level());
    assertNull(controller.onReading(4500));
  }

  @Test
  public void aNewTaskStartsFromItsOwnFirstReading() throws IOException {
    new LevelController(manifest.task("digit"), SETTINGS, switcher).onReading(5000);
    LevelController parity = new LevelController(manifest.task("parity"), SETTINGS, switcher);
    SwitchEvent event = parity.onReading(2500);
    assertEquals("task", event.reason());
    assertEquals("digit/3", FakeModels.name(event.from()));
    assertEquals("parity/2", FakeModels.name(event.to()));
    assertSame(manifest.task("parity"), parity.task());
  }

  @Test
  public void aFailedLoadIsRetriedOnTheNextReading() throws IOException {
    LevelController controller =
        new LevelController(manifest.task("digit"), SETTINGS, switcher);
    controller.onReading(5000);
    loader.failNextLoad = true;
    assertThrows(IOException.class, () -> controller.onReading(1500));
    assertEquals("the old model keeps serving", 3, switcher.currentModel().level());
    SwitchEvent retry = controller.onReading(1500);
    assertEquals("retry", retry.reason());
    assertEquals(1, retry.to().level());
  }

  @Test
  public void settingsThatAllowNoLevelAreRejected() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new LevelController(
                    manifest.task("digit"), SETTINGS.withFloor(4), switcher));
    assertTrue(e.getMessage(), e.getMessage().contains("no level is allowed"));
  }
}
